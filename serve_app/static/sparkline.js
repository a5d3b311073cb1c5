// A row's sparkline: its last daily closes as one inline SVG polyline.
//
// Measured in headless Debian Chromium on this (busy, 2-core) machine, 700 rows of 30
// closes, building the rows and forcing layout / up to the next painted frame:
//   - one vendored lightweight-charts chart per row (no axes, no grid): 4420 / 9160 ms
//     (each is a stack of canvases with its own layout, scales and event handlers);
//   - one 2D canvas per row: 264 / 447 ms (median of 5; each allocates a backing store);
//   - one SVG polyline per row: 150 / 299 ms (median of 5).
// So SVG: the kept library is for the instrument page's one big chart. SVG also scales with
// the row, needs no redraw on zoom, takes its colours from CSS, and tests can read its points.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 80;
const HEIGHT = 20;
const PAD = 1.5; // keeps the stroke inside the box at the highest and lowest close

/** An empty sparkline box; `drawSpark` fills it. */
export function sparkBox() {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("width", WIDTH);
  svg.setAttribute("height", HEIGHT);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  return svg;
}

/** Draw `values` (oldest first) into `svg`: a polyline, coloured by the period's trend. */
export function drawSpark(svg, values) {
  const shown = (values ?? []).filter((v) => Number.isFinite(v));
  if (shown.length < 2) {
    svg.replaceChildren();
    svg.setAttribute("class", "spark");
    return;
  }
  let line = svg.firstChild;
  if (!line) {
    line = document.createElementNS(NS, "polyline");
    svg.append(line);
  }
  line.setAttribute("points", points(shown));
  const first = shown[0];
  const last = shown[shown.length - 1];
  svg.setAttribute("class", `spark ${last > first ? "up" : last < first ? "down" : "flat"}`);
}

/** "x,y x,y …" for `values` in the box (a flat series is drawn across the middle). */
export function points(values) {
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    if (v < low) low = v;
    if (v > high) high = v;
  }
  const span = high - low;
  const step = (WIDTH - 2 * PAD) / (values.length - 1);
  const height = HEIGHT - 2 * PAD;
  const out = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const y = span > 0 ? PAD + height - ((values[i] - low) / span) * height : HEIGHT / 2;
    out[i] = `${(PAD + i * step).toFixed(1)},${y.toFixed(1)}`;
  }
  return out.join(" ");
}

/** The period's change (last / first − 1), what the sparkline column sorts by; null if
 * fewer than two closes. */
export function sparkChange(values) {
  if (!values || values.length < 2 || !values[0]) return null;
  return values[values.length - 1] / values[0] - 1;
}

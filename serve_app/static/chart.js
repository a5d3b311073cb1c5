// Hand-written SVG charts: prices (candles or a line) and the daily sentiment bars.

const NS = "http://www.w3.org/2000/svg";
const W = 760;
const PAD = { top: 12, right: 64, bottom: 26, left: 8 };

function svg(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  if (parent) parent.appendChild(el);
  return el;
}

function frame(height, label) {
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${height}`,
    class: "chart",
    role: "img",
    "aria-label": label,
  });
  svg("title", {}, root).textContent = label;
  return root;
}

function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

function axisText(parent, x, y, text, anchor = "start") {
  const el = svg("text", { x, y, class: "axis", "text-anchor": anchor }, parent);
  el.textContent = text;
}

/**
 * An SVG of `bars` ({ts, open, high, low, close}) as candles or a line.
 * `fmtPrice` and `fmtDate` format the axis labels; `label` is the accessible description.
 */
export function priceChart(bars, { kind = "candles", label, fmtPrice, fmtDate, height = 320 }) {
  const root = frame(height, label);
  const lows = bars.map((b) => b.low ?? b.close);
  const highs = bars.map((b) => b.high ?? b.close);
  const lo = Math.min(...lows);
  const hi = Math.max(...highs);
  const margin = (hi - lo) * 0.05 || Math.abs(hi) * 0.01 || 1;
  const y = scale(lo - margin, hi + margin, height - PAD.bottom, PAD.top);
  const step = (W - PAD.left - PAD.right) / bars.length;
  const x = (i) => PAD.left + step * (i + 0.5);

  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }, root);
    axisText(root, W - PAD.right + 4, y(v) + 4, fmtPrice(v));
  }
  axisText(root, PAD.left, height - 8, fmtDate(bars[0].ts));
  axisText(root, W - PAD.right, height - 8, fmtDate(bars[bars.length - 1].ts), "end");

  if (kind === "line") {
    const d = bars.map((b, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(b.close).toFixed(1)}`);
    svg("path", { d: d.join(""), class: "line" }, root);
    return root;
  }
  const body = Math.max(1, Math.min(12, step * 0.7));
  const candles = svg("g", { class: "candles" }, root);
  bars.forEach((b, i) => {
    const open = b.open ?? b.close;
    const up = b.close >= open;
    const g = svg("g", { class: up ? "up" : "down" }, candles);
    svg("line", { x1: x(i), x2: x(i), y1: y(b.high ?? b.close), y2: y(b.low ?? b.close) }, g);
    const top = y(Math.max(open, b.close));
    const h = Math.max(1, Math.abs(y(open) - y(b.close)));
    svg("rect", { x: x(i) - body / 2, y: top, width: body, height: h }, g);
  });
  return root;
}

/** Daily sentiment (-1..1) as bars above or below zero. */
export function sentimentChart(points, { label, fmtDate, height = 140 }) {
  const root = frame(height, label);
  const y = scale(-1, 1, height - PAD.bottom, PAD.top);
  const step = (W - PAD.left - PAD.right) / Math.max(points.length, 1);
  svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0), class: "grid" }, root);
  axisText(root, W - PAD.right + 4, y(1) + 4, "+1");
  axisText(root, W - PAD.right + 4, y(0) + 4, "0");
  axisText(root, W - PAD.right + 4, y(-1) + 4, "−1");
  points.forEach((p, i) => {
    const v = Math.max(-1, Math.min(1, p.sentiment ?? 0));
    const bar = svg("rect", {
      x: PAD.left + step * i + step * 0.15,
      y: Math.min(y(v), y(0)),
      width: Math.max(1, step * 0.7),
      height: Math.max(1, Math.abs(y(v) - y(0))),
      class: v >= 0 ? "pos" : "neg",
    }, root);
    svg("title", {}, bar).textContent = `${p.day}: ${v.toFixed(2)} (${p.articles})`;
  });
  if (points.length) {
    axisText(root, PAD.left, height - 8, fmtDate(points[0].day));
    axisText(root, W - PAD.right, height - 8, fmtDate(points[points.length - 1].day), "end");
  }
  return root;
}

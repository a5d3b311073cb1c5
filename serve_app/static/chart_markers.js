// The price chart's markers: news stories (coloured by their analysed sentiment), filings and
// the report's largest move, each placed on the bar of its exchange day, and where the
// library draws them (so the page, and a test, can tell what is under a point).

import { t } from "./i18n.js";

/** Marker colours by kind (news by verdict label; `pending`: not analysed yet). */
export const COLOURS = {
  positive: "#0a7d38",
  negative: "#c0262d",
  neutral: "#6b7785",
  pending: "#8fb3e0",
  filing: "#7c4dff",
  move: "#d97706",
  upVolume: "rgba(10, 125, 56, 0.45)",
  downVolume: "rgba(192, 38, 45, 0.45)",
};

/** The marker of a news story, of a filing, or of the largest move: {id, time, ...}. */
function newsMarker(story, time) {
  const label = story.label ?? "pending";
  return {
    id: `n:${story.id}`, time, position: "aboveBar", shape: "circle",
    color: COLOURS[label], kind: "news", label, url: story.url, title: story.title,
  };
}

function filingMarker(filing, time) {
  return {
    id: `d:${filing.provider}:${filing.id}`, time, position: "belowBar", shape: "square",
    color: COLOURS.filing, kind: "filing", url: filing.url, title: filing.title,
  };
}

function moveMarker(move, time) {
  const up = move.value >= 0;
  return {
    id: `m:${move.id}`, time, position: up ? "belowBar" : "aboveBar",
    shape: up ? "arrowUp" : "arrowDown", color: COLOURS.move, kind: "move",
    text: t("chart.largest", { pct: `${up ? "+" : ""}${move.value.toFixed(2)}%` }),
    title: move.text,
  };
}

/**
 * Markers for `items` ({news, disclosures} from the markers route, and `move`: the report's
 * largest_move fact or null), each on the bar of its exchange day (or the next bar: news of
 * a weekend goes on Monday's); items outside the bars are left out. Sorted by time.
 * `dayOf(seconds)` is the exchange's calendar day of a time, `bars` the series' bars.
 */
export function buildMarkers({ news = [], disclosures = [], move = null }, bars, dayOf) {
  if (!bars.length) return [];
  const days = bars.map((b) => dayOf(b.time));
  const barOn = (day) => {
    let lo = 0;
    let hi = days.length;
    while (lo < hi) { // the first bar on or after `day`
      const mid = (lo + hi) >> 1;
      if (days[mid] < day) lo = mid + 1;
      else hi = mid;
    }
    return lo < bars.length ? bars[lo].time : null;
  };
  const out = [];
  const place = (day, make) => {
    if (day < days[0]) return;
    const time = barOn(day);
    if (time != null) out.push(make(time));
  };
  for (const s of news) place(dayOf(Date.parse(s.published_at) / 1000), (tm) => newsMarker(s, tm));
  for (const d of disclosures) {
    place(dayOf(Date.parse(d.filed_at) / 1000), (tm) => filingMarker(d, tm));
  }
  if (move?.day) place(move.day, (tm) => moveMarker(move, tm));
  const order = { news: 0, move: 1, filing: 2 };
  return out.sort((a, b) => a.time - b.time || order[a.kind] - order[b.kind]);
}

/** The report's largest daily move ({id, value, text, day}) from its facts, or null. */
export function largestMove(report) {
  const fact = report?.facts?.find((f) => f.kind === "largest_move");
  const day = fact?.source?.keys?.[fact.source.keys.length - 1];
  return fact && day ? { id: fact.id, value: fact.value ?? 0, text: fact.text, day } : null;
}

// The library's marker layout (series-markers in lightweight-charts 5.x): the marker size
// from the bar spacing, and per bar a stack upwards from the high (aboveBar) and downwards
// from the low (belowBar), each marker taking its size plus a margin, a text 1.2 font sizes.
function odd(v) {
  const i = Math.ceil(v);
  return i % 2 === 0 ? i - 1 : i;
}

function layout(barSpacing) {
  const clamped = Math.min(Math.max(barSpacing, 12), 30);
  const even = Math.ceil(odd(clamped));
  return { size: even % 2 !== 0 ? even - 1 : even, margin: Math.max(odd(clamped * 0.1), 3) };
}

/**
 * Where each marker's shape is drawn, in pixels of the chart's first pane: [{id, x, y}].
 * `valueAt(time, position)` is the series' price the marker sits on (high/low of a candle,
 * the value of a line point); markers off screen are left out.
 */
export function markerPoints(markers, chart, series, valueAt) {
  const scale = chart.timeScale();
  const { size, margin } = layout(scale.options().barSpacing);
  const fontSize = chart.options().layout.fontSize;
  const half = size / 2;
  const points = [];
  let time = null;
  let above = margin;
  let below = margin;
  for (const m of markers) {
    if (m.time !== time) {
      time = m.time;
      above = margin;
      below = margin;
    }
    const x = scale.timeToCoordinate(m.time);
    const price = series.priceToCoordinate(valueAt(m.time, m.position));
    let y;
    if (m.position === "aboveBar") {
      y = price - half - above;
      if (m.text) above += 1.2 * fontSize;
      above += size + margin;
    } else {
      y = price + half + below;
      if (m.text) below += 1.2 * fontSize;
      below += size + margin;
    }
    if (x != null && price != null) points.push({ id: m.id, x: Math.round(x), y: Math.round(y) });
  }
  return points;
}

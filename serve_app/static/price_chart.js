// The instrument page's chart on lightweight-charts: prices (candles or a line) with news,
// filing and largest-move markers, a volume pane and the daily sentiment pane on one time
// axis in the exchange's time zone, a crosshair legend, zoom and pan, live last bars.
// The container's data attributes carry the chart's real state (bars, markers and where
// they are drawn, the visible range) for tests and tools.

import {
  CandlestickSeries,
  HistogramSeries,
  LineSeries,
  createChart,
  createSeriesMarkers,
} from "./vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import { COLOURS, buildMarkers, markerPoints } from "./chart_markers.js";
import { fill, h } from "./dom.js";
import { locale, money, number, t } from "./i18n.js";
import { tradingViewLogo } from "./tv_logo.js";

const HEIGHT = 460;
const PANES = [5, 1.2, 1.5]; // relative heights: prices, volume, sentiment

function css(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Formatters of times (UTC seconds) in the exchange's time zone `zone`. */
export function exchangeTime(zone) {
  const tag = locale() === "ko" ? "ko-KR" : "en-US";
  const make = (options) => new Intl.DateTimeFormat(tag, { timeZone: zone, ...options });
  const iso = make({ year: "numeric", month: "2-digit", day: "2-digit" });
  const full = make({ dateStyle: "medium" });
  const ticks = [
    make({ year: "numeric" }),
    make({ month: "short" }),
    make({ day: "numeric" }),
    make({ hour: "2-digit", minute: "2-digit" }),
    make({ hour: "2-digit", minute: "2-digit", second: "2-digit" }),
  ];
  const parts = (date) => Object.fromEntries(
    iso.formatToParts(date).map((p) => [p.type, p.value]),
  );
  return {
    /** The exchange's calendar day of `seconds`, as YYYY-MM-DD. */
    dayOf(seconds) {
      const p = parts(new Date(seconds * 1000));
      return `${p.year}-${p.month}-${p.day}`;
    },
    label: (seconds) => full.format(new Date(seconds * 1000)),
    tick: (seconds, type) => ticks[type]?.format(new Date(seconds * 1000)) ?? null,
  };
}

/**
 * TradingView's attribution (the library's NOTICE asks for it), drawn by tv_logo.js because
 * the library's own logo adds an inline <style> that `style-src 'self'` blocks.
 */
function attribution() {
  const link = tradingViewLogo();
  link.id = "tv-attr-logo";
  return link;
}

const seconds = (iso) => Math.floor(Date.parse(iso) / 1000);

/** A bar of the API as the chart's candle, line point and volume column. */
function points(bar) {
  const time = seconds(bar.ts);
  if (bar.close == null) return { time, candle: { time }, line: { time }, volume: { time } };
  const open = bar.open ?? bar.close;
  const up = bar.close >= open;
  return {
    time,
    candle: {
      time, open, close: bar.close,
      high: bar.high ?? Math.max(open, bar.close), low: bar.low ?? Math.min(open, bar.close),
    },
    line: { time, value: bar.close },
    volume: {
      time, value: bar.volume ?? 0,
      color: up ? COLOURS.upVolume : COLOURS.downVolume,
    },
  };
}

/**
 * The chart in `box` for an instrument trading in `zone` and `currency`.
 * `onMarker(marker)` runs when a marker is clicked. Returns the chart's controls.
 */
export function priceChart(box, { zone, currency, onMarker }) {
  const time = exchangeTime(zone);
  const digits = currency === "KRW" || currency === "JPY" ? 0 : 2;
  const legend = h("div", { id: "chart-legend", class: "chart-legend", "aria-live": "off" });
  const host = h("div", { class: "chart-host" });
  box.replaceChildren(legend, host, attribution());
  const chart = createChart(host, {
    height: HEIGHT,
    autoSize: true,
    layout: {
      background: { color: "transparent" },
      textColor: css("--muted", "#5b6775"),
      fontSize: 12,
      attributionLogo: false, // its own inserts a <style> the page's CSP refuses: see below
      panes: { separatorColor: css("--line", "#d9dee5") },
    },
    grid: {
      vertLines: { color: css("--line", "#d9dee5") },
      horzLines: { color: css("--line", "#d9dee5") },
    },
    localization: {
      locale: locale() === "ko" ? "ko-KR" : "en-US",
      timeFormatter: time.label,
    },
    timeScale: { tickMarkFormatter: time.tick, borderColor: css("--line", "#d9dee5") },
    rightPriceScale: { borderColor: css("--line", "#d9dee5") },
  });
  const priceFormat = { type: "custom", formatter: (p) => number(p, digits), minMove: 0.01 };
  const state = { kind: "candles", bars: [], data: [], markers: [], items: {}, series: null };
  let plugin = null;
  makeSeries("candles"); // pane 0 first
  const volume = chart.addSeries(HistogramSeries, {
    priceFormat: { type: "volume" }, priceLineVisible: false, lastValueVisible: false,
  }, 1);
  const sentiment = chart.addSeries(HistogramSeries, {
    priceFormat: { type: "price", precision: 2, minMove: 0.01 },
    priceLineVisible: false, lastValueVisible: false,
    autoscaleInfoProvider: () => ({ priceRange: { minValue: -1, maxValue: 1 } }),
  }, 2);
  sentiment.createPriceLine({
    price: 0, color: css("--line", "#d9dee5"), lineWidth: 1, axisLabelVisible: false,
  });
  chart.panes().forEach((pane, i) => pane.setStretchFactor(PANES[i]));


  function makeSeries(kind) {
    const old = state.series; // removed after its replacement: pane 0 never empties
    plugin?.detach();
    plugin = null;
    state.series = kind === "line"
      ? chart.addSeries(LineSeries, {
        color: css("--accent", "#1f4e79"), lineWidth: 2, priceFormat,
      }, 0)
      : chart.addSeries(CandlestickSeries, {
        priceFormat, upColor: COLOURS.positive, downColor: COLOURS.negative, borderVisible: false,
        wickUpColor: COLOURS.positive, wickDownColor: COLOURS.negative,
      }, 0);
    if (old) chart.removeSeries(old);
    state.kind = kind;
    box.dataset.kind = kind;
  }

  function priceData() {
    return state.data.map((p) => (state.kind === "line" ? p.line : p.candle));
  }

  // The series' price a marker sits on: the high (above) or low (below) of a candle.
  function valueAt(at, position) {
    const p = state.data.find((d) => d.time === at);
    if (!p) return null;
    if (state.kind === "line") return p.line.value;
    return position === "aboveBar" ? p.candle.high : p.candle.low;
  }

  function publishRange() {
    const range = chart.timeScale().getVisibleRange();
    if (range) {
      box.dataset.visibleFrom = String(range.from);
      box.dataset.visibleTo = String(range.to);
    }
    const logical = chart.timeScale().getVisibleLogicalRange();
    if (logical) box.dataset.visibleBars = String(Math.round(logical.to - logical.from));
    schedulePoints();
  }

  // After the library has drawn the change (its price scale follows the data a frame on).
  function schedulePoints() {
    requestAnimationFrame(() => requestAnimationFrame(publishPoints));
  }

  function publishPoints() {
    if (!state.series) return;
    const drawn = markerPoints(state.markers, chart, state.series, valueAt);
    box.dataset.markerPoints = JSON.stringify(drawn);
  }

  function drawMarkers() {
    const shown = buildMarkers(state.items, state.data.filter((p) => p.line.value != null),
      time.dayOf);
    state.markers = shown;
    const plain = shown.map(({ id, time: at, position, shape, color, text }) =>
      ({ id, time: at, position, shape, color, ...(text ? { text } : {}) }));
    if (plugin) plugin.setMarkers(plain);
    else plugin = createSeriesMarkers(state.series, plain);
    box.dataset.markers = String(shown.length);
    box.dataset.markerIds = shown.map((m) => m.id).join(" ");
    schedulePoints();
  }

  function showLegend(point) {
    const p = point ?? state.data[state.data.length - 1];
    if (!p || p.line.value == null) return fill(legend);
    const c = p.candle;
    const cell = (key, value) => [h("span", { class: "k" }, t(key)), " ", h("b", {}, value), " "];
    fill(
      legend,
      h("span", { class: "d" }, time.label(p.time)), " ",
      cell("chart.open", money(c.open, currency)), cell("chart.high", money(c.high, currency)),
      cell("chart.low", money(c.low, currency)), cell("chart.close", money(c.close, currency)),
      cell("chart.volume", number(p.volume.value, 0)),
    );
    legend.dataset.time = String(p.time);
  }

  chart.subscribeCrosshairMove((param) => {
    const point = param.time != null ? state.data.find((d) => d.time === param.time) : null;
    showLegend(point);
    box.dataset.hovered = param.hoveredObjectId ?? "";
  });
  chart.subscribeClick((param) => {
    const marker = state.markers.find((m) => m.id === param.hoveredObjectId);
    if (marker) onMarker(marker);
  });
  chart.timeScale().subscribeVisibleTimeRangeChange(publishRange);
  chart.timeScale().subscribeSizeChange(schedulePoints);

  return {
    chart,
    /** Replace the bars (API bars, oldest first) and show them all. */
    setBars(bars) {
      state.bars = bars;
      state.data = bars.map(points);
      state.series.setData(priceData());
      volume.setData(state.data.map((p) => p.volume));
      box.dataset.bars = String(bars.filter((b) => b.close != null).length);
      box.dataset.lastClose = String(bars[bars.length - 1]?.close ?? "");
      chart.timeScale().fitContent();
      drawMarkers();
      showLegend(null);
    },
    /** Candles or line (`kind`), keeping the zoom. */
    setKind(kind) {
      if (kind === state.kind) return;
      const range = chart.timeScale().getVisibleLogicalRange();
      makeSeries(kind);
      state.series.setData(priceData());
      if (range) chart.timeScale().setVisibleLogicalRange(range);
      drawMarkers();
    },
    /** The items to mark ({news, disclosures, move}). */
    setItems(items) {
      state.items = { ...state.items, ...items };
      if (state.data.length) drawMarkers();
    },
    /** Daily sentiment points ({day, sentiment, articles}) on the bar of each day. */
    setSentiment(timeline) {
      const bars = state.data.filter((p) => p.line.value != null);
      const days = bars.map((p) => time.dayOf(p.time));
      const sums = new Map();
      for (const d of timeline) {
        const i = days.findIndex((day) => day >= d.day); // a weekend's on the next session
        if (i < 0 || d.day < days[0]) continue;
        const s = sums.get(bars[i].time) ?? { sum: 0, n: 0 };
        const n = Math.max(d.articles, 1);
        sums.set(bars[i].time, { sum: s.sum + d.sentiment * n, n: s.n + n });
      }
      const data = [...sums.entries()].sort((a, b) => a[0] - b[0]).map(([at, s]) => {
        const value = s.sum / s.n;
        return { time: at, value, color: value >= 0 ? COLOURS.positive : COLOURS.negative };
      });
      sentiment.setData(data);
      box.dataset.sentimentDays = String(data.length);
    },
    /** A live bar (the `bar` event's payload): updates the last bar or appends a new one. */
    liveBar(bar) {
      const p = points(bar);
      const last = state.data[state.data.length - 1];
      if (!last || p.time < last.time || bar.close == null) return false;
      const sameDay = time.dayOf(p.time) === time.dayOf(last.time);
      if (sameDay) { // one bar per exchange day: the live one extends the day's bar
        const c = last.candle;
        p.time = last.time;
        p.candle.open = bar.open ?? c.open;
        p.candle.high = Math.max(bar.high ?? bar.close, c.high, bar.close);
        p.candle.low = Math.min(bar.low ?? bar.close, c.low, bar.close);
        p.volume.value = bar.volume ?? last.volume.value;
        p.volume.color = bar.close >= p.candle.open ? COLOURS.upVolume : COLOURS.downVolume;
      }
      for (const part of [p.candle, p.line, p.volume]) part.time = p.time;
      if (sameDay) state.data[state.data.length - 1] = p;
      else state.data.push(p);
      state.series.update(state.kind === "line" ? p.line : p.candle);
      volume.update(p.volume);
      box.dataset.bars = String(state.data.filter((d) => d.line.value != null).length);
      box.dataset.lastClose = String(bar.close);
      showLegend(null);
      return true;
    },
    zoom(factor) {
      const scale = chart.timeScale();
      const range = scale.getVisibleLogicalRange();
      if (!range) return;
      const span = (range.to - range.from) * factor;
      scale.setVisibleLogicalRange({ from: range.to - span, to: range.to });
    },
    fit() {
      chart.timeScale().fitContent();
    },
    dispose() {
      chart.remove();
    },
  };
}

// The Operations page's small charts on lightweight-charts: LLM spend per day against the
// daily budget, job run durations by kind with failed runs marked, and each provider's
// requests per minute against its per-minute limit. Each figure says what it shows in
// `data-state` ("drawn" or "empty") and `data-points`, for tests and tools.

import {
  HistogramSeries,
  LineSeries,
  createChart,
  createSeriesMarkers,
} from "./vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import { api } from "./api.js";
import { fill, h } from "./dom.js";
import { locale, money, number, t } from "./i18n.js";
import { tradingViewLogo } from "./tv_logo.js";

const RELOAD_MS = 60000;
const SPEND_DAYS = 30;
const JOB_DAYS = 7;
const RATE_MINUTES = 60;
const KIND_COLOURS = ["--accent", "--pos", "--warn", "#7a4fb5", "#2a8c8c"];
const WHOLE = { type: "price", precision: 0, minMove: 1 }; // requests: whole-number ticks

const css = (name) => (name.startsWith("--")
  ? getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#1f4e79"
  : name);
const seconds = (iso) => Math.floor(Date.parse(iso) / 1000);
const tag = () => (locale() === "ko" ? "ko-KR" : "en-US");

/** Time formatters in the viewer's locale; `zone` "UTC" for UTC days, else the browser's. */
function timeFormat(zone) {
  const make = (options) => new Intl.DateTimeFormat(tag(), { timeZone: zone, ...options });
  const ticks = [
    make({ year: "numeric" }),
    make({ month: "short" }),
    make({ month: "short", day: "numeric" }),
    make({ hour: "2-digit", minute: "2-digit" }),
    make({ hour: "2-digit", minute: "2-digit", second: "2-digit" }),
  ];
  const full = zone === "UTC" ? make({ dateStyle: "medium" })
    : make({ dateStyle: "medium", timeStyle: "short" });
  return {
    timeFormatter: (s) => full.format(new Date(s * 1000)),
    tick: (s, type) => ticks[type]?.format(new Date(s * 1000)) ?? null,
  };
}

/** A small chart in `host` with the viewer's locale on both axes. */
function smallChart(host, zone, formatter) {
  const time = timeFormat(zone);
  return createChart(host, {
    autoSize: true,
    layout: {
      background: { color: "transparent" }, textColor: css("--muted"), fontSize: 11,
      attributionLogo: false, // its logo's inline <style> breaks the CSP: tv_logo.js draws it
    },
    grid: { vertLines: { visible: false }, horzLines: { color: css("--line") } },
    localization: { locale: tag(), timeFormatter: time.timeFormatter, priceFormatter: formatter },
    timeScale: {
      tickMarkFormatter: time.tick, borderColor: css("--line"),
      timeVisible: zone !== "UTC", fixLeftEdge: true, fixRightEdge: true,
    },
    rightPriceScale: { borderColor: css("--line") },
    handleScroll: false,
    handleScale: false,
  });
}

/** One figure: title, legend, chart host; `draw(build)` replaces its chart. */
function figure(id, title) {
  const host = h("div", { class: "opschart-host" });
  const legend = h("p", { class: "opschart-legend" });
  const note = h("p", { class: "opschart-note" });
  const el = h("figure", { id, class: "opschart", dataset: { state: "loading" } },
    h("figcaption", {}, title), legend, host, note);
  let charts = [];
  return {
    el,
    legend,
    note,
    clear() {
      for (const chart of charts) chart.remove();
      charts = [];
    },
    empty(text) {
      this.clear();
      fill(host, h("p", { class: "empty" }, text));
      fill(legend);
      el.dataset.state = "empty";
      el.dataset.points = "0";
    },
    /** A fresh host for one more chart (small multiples add several). */
    host(label) {
      const box = h("div", { class: "opschart-canvas" });
      if (label) host.append(h("p", { class: "opschart-sub" }, label));
      host.append(box);
      box.append(tradingViewLogo());
      return box;
    },
    start() {
      this.clear();
      fill(host);
      el.dataset.points = "0";
    },
    keep(chart, points) {
      charts.push(chart);
      el.dataset.state = "drawn";
      el.dataset.points = String(Number(el.dataset.points || 0) + points);
    },
  };
}

function swatch(colour, text, line = false) {
  const mark = h("span", { class: line ? "swatch line" : "swatch" });
  mark.style.background = colour;
  return h("span", { class: "opschart-key" }, mark, text);
}

/** LLM spend per day (bars, red over budget) and the budget (line). */
function drawSpend(fig, data) {
  if (!data.days.some((d) => d.calls > 0)) return fig.empty(t("opschart.spend.empty"));
  fig.start();
  const chart = smallChart(fig.host(), "UTC", (v) => money(v, "USD"));
  const bars = chart.addSeries(HistogramSeries, { priceLineVisible: false, lastValueVisible: false });
  const budget = chart.addSeries(LineSeries, {
    color: css("--neg"), lineWidth: 2, lineStyle: 2, priceLineVisible: false,
    lastValueVisible: false, crosshairMarkerVisible: false,
  });
  const at = (d) => seconds(`${d.day}T00:00:00Z`);
  bars.setData(data.days.map((d) => (d.cost_usd > 0 ? {
    time: at(d), value: d.cost_usd,
    color: d.cost_usd > d.budget_usd ? css("--neg") : css("--accent"),
  } : { time: at(d) }))); // a quiet day keeps its place on the axis, with no bar
  budget.setData(data.days.map((d) => ({ time: at(d), value: d.budget_usd })));
  chart.timeScale().fitContent();
  const total = data.days.reduce((sum, d) => sum + d.cost_usd, 0);
  fill(fig.legend, swatch(css("--accent"), t("opschart.spend.bars")),
    swatch(css("--neg"), t("opschart.spend.budget", { budget: money(data.budget_usd, "USD") }), true));
  fig.note.textContent = t("opschart.spend.total", { days: data.days.length, total: money(total, "USD") });
  fig.keep(chart, data.days.length);
}

/** Each kind's run durations (points), failed runs marked. */
function drawJobs(fig, data) {
  if (!data.runs.length) return fig.empty(t("opschart.jobs.empty"));
  fig.start();
  const unit = new Intl.NumberFormat(tag(), { style: "unit", unit: "second", unitDisplay: "narrow",
    maximumFractionDigits: 1 });
  const chart = smallChart(fig.host(), undefined, (v) => unit.format(v));
  const kinds = [...new Set(data.runs.map((r) => r.kind))].sort();
  const keys = [];
  kinds.forEach((kind, i) => {
    const colour = css(KIND_COLOURS[i % KIND_COLOURS.length]);
    const series = chart.addSeries(LineSeries, {
      color: colour, lineWidth: 1, pointMarkersVisible: true, pointMarkersRadius: 3,
      priceLineVisible: false, lastValueVisible: false,
    });
    const points = [];
    const failed = [];
    for (const run of data.runs.filter((r) => r.kind === kind)) {
      let time = seconds(run.finished_at);
      if (points.length && time <= points.at(-1).time) time = points.at(-1).time + 1;
      points.push({ time, value: run.duration_s });
      if (run.status === "failed") {
        failed.push({ time, position: "aboveBar", color: css("--neg"), shape: "arrowDown",
          text: t("opschart.jobs.failedmark") });
      }
    }
    series.setData(points);
    if (failed.length) createSeriesMarkers(series, failed);
    keys.push(swatch(colour, kind, true));
  });
  chart.timeScale().fitContent();
  fill(fig.legend, ...keys, swatch(css("--neg"), t("opschart.jobs.failedkey")));
  fig.note.textContent = data.kinds.map((k) => t("opschart.jobs.summary", {
    kind: k.kind, runs: k.runs, failed: k.failed, median: unit.format(k.median_s),
  })).join(" · ");
  fig.el.dataset.failed = String(data.kinds.reduce((sum, k) => sum + k.failed, 0));
  fig.keep(chart, data.runs.length);
}

/** `part` of `whole` as a whole percentage, "<1" for a sliver. */
function share(part, whole) {
  const pct = (100 * part) / whole;
  return pct > 0 && pct < 1 ? "<1" : number(pct, 0);
}

/** One small chart per provider that sent requests: per minute, refused in red, the limit. */
function drawRates(fig, data) {
  const busy = data.providers.filter((p) => p.minutes.some((m) => m.requests > 0));
  if (!busy.length) return fig.empty(t("opschart.rates.empty", { minutes: RATE_MINUTES }));
  fig.start();
  for (const p of busy) {
    const peak = Math.max(...p.minutes.map((m) => m.requests));
    // Far below its limit, the traffic keeps the scale and the limit line stays above it.
    const offScale = p.limit_per_min && peak < p.limit_per_min / 4;
    const label = p.limit_per_min
      ? t("opschart.rates.peak", { provider: p.provider, peak: number(peak, 0),
        limit: number(p.limit_per_min, 0), share: share(peak, p.limit_per_min) })
        + (offScale ? ` ${t("opschart.rates.offscale")}` : "")
      : t("opschart.rates.nolimit", { provider: p.provider, peak: number(peak, 0) });
    const box = fig.host(label);
    box.dataset.provider = p.provider;
    const chart = smallChart(box, undefined, (v) => number(v, 0));
    const counts = { priceLineVisible: false, lastValueVisible: false, priceFormat: WHOLE };
    const sent = chart.addSeries(HistogramSeries, { color: css("--accent"), ...counts });
    const refused = chart.addSeries(HistogramSeries, { color: css("--neg"), ...counts });
    const times = p.minutes.map((m) => seconds(m.minute));
    // A minute without requests keeps its place on the axis, with no bar.
    const bar = (time, value) => (value > 0 ? { time, value } : { time });
    sent.setData(p.minutes.map((m, i) => bar(times[i], m.requests)));
    refused.setData(p.minutes.map((m, i) => bar(times[i], m.refused)));
    if (p.limit_per_min) {
      const limit = chart.addSeries(LineSeries, {
        color: css("--warn"), lineWidth: 1, lineStyle: 2, priceLineVisible: false,
        lastValueVisible: false, crosshairMarkerVisible: false,
        autoscaleInfoProvider: offScale ? () => null : undefined,
      });
      limit.setData(times.map((time) => ({ time, value: p.limit_per_min })));
    }
    chart.timeScale().fitContent();
    fig.keep(chart, p.minutes.length);
  }
  fill(fig.legend, swatch(css("--accent"), t("opschart.rates.sent")),
    swatch(css("--neg"), t("opschart.rates.refused")),
    swatch(css("--warn"), t("opschart.rates.limit"), true));
  const idle = data.providers.filter((p) => p.enabled && !busy.includes(p)).map((p) => p.provider);
  fig.note.textContent = idle.length ? t("opschart.rates.idle", { providers: idle.join(", ") }) : "";
}

/** The three charts in `box`, loaded now and every minute; returns {refresh, dispose}. */
export function opsCharts(box, onError) {
  const figures = {
    spend: figure("chart-spend", t("opschart.spend.title", { days: SPEND_DAYS })),
    jobs: figure("chart-jobs", t("opschart.jobs.title", { days: JOB_DAYS })),
    rates: figure("chart-rates", t("opschart.rates.title", { minutes: RATE_MINUTES })),
  };
  fill(box, ...Object.values(figures).map((f) => f.el));
  const loads = [
    [figures.spend, `/ops/charts/spend?days=${SPEND_DAYS}`, drawSpend],
    [figures.jobs, `/ops/charts/jobs?days=${JOB_DAYS}`, drawJobs],
    [figures.rates, `/ops/charts/providers?minutes=${RATE_MINUTES}`, drawRates],
  ];
  let alive = true;
  let timer = null;

  async function load() {
    clearTimeout(timer);
    await Promise.all(loads.map(async ([fig, path, draw]) => {
      try {
        const data = await api(path);
        if (alive) draw(fig, data);
      } catch (err) {
        if (!alive) return;
        fig.empty(t("opschart.failed"));
        fig.el.dataset.state = "error";
        onError(err);
      }
    }));
    if (alive) timer = setTimeout(load, RELOAD_MS);
  }

  load();
  return {
    refresh: load,
    dispose() {
      alive = false;
      clearTimeout(timer);
      for (const fig of Object.values(figures)) fig.clear();
    },
  };
}

// Instrument page: the price chart (range, adjustment, candles/line, zoom, markers for news,
// filings and the report's largest move, volume and sentiment panes, live last bar), the
// latest report with its citations, news and disclosures.

import { api, enc, query } from "./api.js";
import { COLOURS, largestMove } from "./chart_markers.js";
import { fill, h, safeLink } from "./dom.js";
import { day, money, number, t, when } from "./i18n.js";
import { priceChart } from "./price_chart.js";
import { tone } from "./watchlist.js";

const RANGES = { "1M": 30, "3M": 91, "6M": 182, "1Y": 365, "5Y": 1826 };
// The API's `adjust` modes; `splits` (its default) reads continuously across splits.
const ADJUST = ["none", "splits", "all"];
const PAGE = 10;

/** The page of instrument `id` in `view`; returns {onEvent, refresh, dispose}. */
export function instrumentPage(view, app, id) {
  const state = {
    range: "3M", adjust: "splits", kind: "candles", instrument: null, items: {}, timeline: null,
  };
  const box = h("div", { id: "price-chart", class: "chart-box", role: "img" }, t("loading"));
  const applied = h("p", { id: "price-actions", class: "meta", "aria-live": "polite" });
  const sentimentNote = h("p", { id: "sentiment-note", class: "meta" });
  const report = h("div", { id: "report" });
  const news = h("ul", { id: "news", class: "items" });
  const filings = h("ul", { id: "disclosures", class: "items" });
  const title = h("h1", {}, id);
  const lists = { news: { el: news, cursor: null }, disclosures: { el: filings, cursor: null } };
  const labels = new Map(); // marker id -> its marker, so list items show what the chart does
  let chart = null;
  let timer = null;
  let disposed = false;

  fill(
    view,
    h("p", {}, h("a", { href: "#/" }, `← ${t("inst.back")}`)),
    title,
    h("section", { class: "card", "aria-labelledby": "h-prices" },
      h("h2", { id: "h-prices" }, t("inst.prices")),
      controls(),
      box,
      chartKey(),
      sentimentNote,
      applied),
    h("section", { class: "card", "aria-labelledby": "h-report" },
      h("h2", { id: "h-report" }, t("inst.report")), report),
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "h-news" },
        h("h2", { id: "h-news" }, t("inst.news")), news, moreButton("news")),
      h("section", { class: "card", "aria-labelledby": "h-disclosures" },
        h("h2", { id: "h-disclosures" }, t("inst.disclosures")), filings,
        moreButton("disclosures"))),
  );

  function controls() {
    const range = h("fieldset", { class: "segmented" }, h("legend", {}, t("inst.range")),
      Object.keys(RANGES).map((name) => radio("range", name, name, state.range === name)));
    const kind = h("fieldset", { class: "segmented" }, h("legend", {}, t("inst.kind")),
      radio("kind", "candles", t("inst.candles"), true),
      radio("kind", "line", t("inst.line"), false));
    const adjust = h("select", { id: "adjust", name: "adjust" },
      ADJUST.map((mode) => h("option", { value: mode, selected: mode === state.adjust },
        t(`inst.adjust.${mode}`))));
    adjust.addEventListener("change", () => {
      state.adjust = adjust.value;
      loadBars();
    });
    const zoom = h("div", { class: "zoom", role: "group", "aria-label": t("chart.zoom") },
      button("chart-zoom-in", "+", t("chart.zoomin"), () => chart?.zoom(0.5)),
      button("chart-zoom-out", "−", t("chart.zoomout"), () => chart?.zoom(2)),
      button("chart-fit", t("chart.fit"), t("chart.fithint"), () => chart?.fit()));
    return h("div", { class: "controls" }, range, kind,
      h("label", { class: "check" }, t("inst.adjust"), adjust), zoom);
  }

  function button(elId, text, hint, onclick) {
    return h("button", { type: "button", id: elId, title: hint, "aria-label": hint, onclick },
      text);
  }

  function chartKey() {
    const entry = (colour, key) => {
      const dot = h("span", { class: "dot", "aria-hidden": "true" });
      dot.style.background = colour;
      return h("li", {}, dot, t(key));
    };
    return h("ul", { id: "chart-key", class: "chart-key", "aria-label": t("chart.key") },
      entry(COLOURS.positive, "chart.positive"), entry(COLOURS.negative, "chart.negative"),
      entry(COLOURS.neutral, "chart.neutral"), entry(COLOURS.pending, "chart.pending"),
      entry(COLOURS.filing, "chart.filing"), entry(COLOURS.move, "chart.move"),
      h("li", {}, t("chart.panes")));
  }

  function radio(name, value, label, checked) {
    const input = h("input", { type: "radio", name, value, checked });
    input.addEventListener("change", () => {
      state[name] = value;
      if (name === "kind") chart?.setKind(value);
      else reload();
    });
    return h("label", {}, input, h("span", {}, label));
  }

  function moreButton(which) {
    const more = h("button", { type: "button", class: "link", hidden: true }, t("inst.more"));
    more.addEventListener("click", () => loadList(which, true));
    lists[which].more = more;
    return more;
  }

  const since = () => new Date(Date.now() - RANGES[state.range] * 86400e3).toISOString();

  function ensureChart() {
    if (chart || disposed) return chart;
    chart = priceChart(box, {
      zone: state.instrument?.timezone ?? "UTC",
      currency: state.instrument?.currency ?? "USD",
      onMarker: openMarker,
    });
    chart.setKind(state.kind);
    return chart;
  }

  function openMarker(marker) {
    box.dataset.opened = marker.id;
    if (marker.kind === "move") {
      document.getElementById(marker.id.replace(/^m:/, "fact-"))?.scrollIntoView();
      return;
    }
    if (marker.url && /^https?:\/\//i.test(marker.url)) {
      window.open(marker.url, "_blank", "noopener,noreferrer");
    }
  }

  async function loadBars() {
    try {
      const data = await api(
        `/instruments/${enc(id)}/bars${query({ start: since(), adjust: state.adjust })}`,
      );
      drawBars(data.bars);
      drawActions(data.actions ?? [], data.currency);
    } catch (err) {
      fill(applied);
      app.fail(err);
    }
  }

  // Which splits and dividends moved the prices shown, so a jump or its absence is explained.
  function drawActions(actions, currency) {
    const named = actions.map((a) => a.kind === "split"
      ? t("inst.split", { date: day(a.ex_date), ratio: splitRatio(a.ratio) })
      : t("inst.dividend", { date: day(a.ex_date), amount: money(a.amount, currency ?? "USD") }));
    fill(applied, named.length ? t("inst.actions", { list: named.join(", ") }) : null);
    applied.dataset.actions = String(actions.length);
  }

  function drawBars(bars) {
    const shown = bars.filter((b) => b.close != null);
    if (!shown.length) {
      chart?.dispose();
      chart = null;
      fill(box, h("p", { class: "empty" }, t("inst.nobars")));
      box.dataset.bars = "0";
      return;
    }
    const currency = state.instrument?.currency ?? "USD";
    box.setAttribute("aria-label", t("inst.chartlabel", {
      id,
      from: when(shown[0].ts, true),
      to: when(shown[shown.length - 1].ts, true),
      low: money(Math.min(...shown.map((b) => b.low ?? b.close)), currency),
      high: money(Math.max(...shown.map((b) => b.high ?? b.close)), currency),
      last: money(shown[shown.length - 1].close, currency),
    }));
    box.dataset.adjust = state.adjust;
    ensureChart()?.setItems(state.items);
    chart?.setBars(bars);
    if (state.timeline) chart?.setSentiment(state.timeline);
  }

  async function loadMarkers() {
    try {
      const data = await api(`/instruments/${enc(id)}/markers${query({ start: since() })}`);
      state.items = { ...state.items, news: data.news, disclosures: data.disclosures };
      chart?.setItems(state.items);
      labels.clear();
      for (const s of data.news) labels.set(`n:${s.id}`, s.label ?? "pending");
      for (const li of news.querySelectorAll("li[data-marker]")) badge(li);
    } catch (err) {
      app.fail(err);
    }
  }

  async function loadAnalysis() {
    const days = Math.max(30, RANGES[state.range]);
    try {
      const data = await api(`/instruments/${enc(id)}/analysis${query({ days })}`);
      state.timeline = data.timeline;
      fill(sentimentNote, data.timeline.length ? null : t("inst.nosentiment"));
      state.items = { ...state.items, move: largestMove(data.report) };
      chart?.setItems(state.items);
      chart?.setSentiment(data.timeline);
      fill(report, data.report
        ? reportView(data.report) : h("p", { class: "empty" }, t("inst.noreport")));
    } catch (err) {
      app.fail(err);
    }
  }

  // A news item's verdict as its marker shows it (a coloured dot and the label's name).
  function badge(li) {
    const label = labels.get(li.dataset.marker);
    li.querySelector(".verdict")?.remove();
    if (!label) return;
    const dot = h("span", { class: "verdict", title: t(`chart.${label}`) },
      h("span", { class: "dot", "aria-hidden": "true" }), ` ${t(`chart.${label}`)} `);
    dot.firstChild.style.background = COLOURS[label];
    li.prepend(dot);
  }

  async function loadList(which, more = false) {
    const list = lists[which];
    const collapse = which === "news" ? "story" : null; // one per story, as the chart marks
    try {
      const data = await api(`/instruments/${enc(id)}/${which}${query({
        limit: PAGE, cursor: more ? list.cursor : null, collapse,
      })}`);
      const items = data[which === "news" ? "articles" : "disclosures"];
      const nodes = items.map((item) => (which === "news" ? article(item) : filing(item)));
      nodes.forEach((li) => which === "news" && badge(li));
      if (more) list.el.append(...nodes);
      else fill(list.el, nodes.length ? nodes : h("li", { class: "empty" },
        t(which === "news" ? "inst.nonews" : "inst.nodisclosures")));
      list.cursor = data.next_cursor;
      list.more.hidden = !data.next_cursor;
    } catch (err) {
      app.fail(err);
    }
  }

  function reload() {
    return Promise.all([loadBars(), loadMarkers(), loadAnalysis()]);
  }

  async function load() {
    try {
      const instruments = await app.instruments();
      state.instrument = instruments.find((i) => i.id === id) ?? null;
      if (state.instrument) fill(title, `${state.instrument.name} (${id})`);
    } catch (err) {
      return app.fail(err);
    }
    await loadBars(); // the chart first: the markers and sentiment go on its bars
    await Promise.all([loadMarkers(), loadAnalysis(), loadList("news"), loadList("disclosures")]);
  }

  function later(fn) {
    clearTimeout(timer); // a burst of events refetches once
    timer = setTimeout(fn, 500);
  }

  function onBar(payload) {
    if ((payload.interval ?? "1d") !== "1d") return;
    if (!chart?.liveBar(payload)) later(loadBars);
  }

  load();
  return {
    onEvent(event) {
      if (event.instrument !== id) return;
      if (event.type === "bar") onBar(event.payload ?? {});
      else if (event.type === "report.published") loadAnalysis();
      else if (event.type === "article") {
        loadList("news");
        later(loadMarkers);
      }
    },
    refresh: load,
    dispose() {
      disposed = true;
      clearTimeout(timer);
      chart?.dispose();
      chart = null;
    },
  };
}

/** "4:1" for a 4-for-1 split, "1:10" for a 1-for-10 reverse split. */
function splitRatio(ratio) {
  const fmt = (v) => String(Math.round(v * 1000) / 1000);
  return ratio >= 1 ? `${fmt(ratio)}:1` : `1:${fmt(1 / ratio)}`;
}

function reportView(report) {
  const claims = (name, items) => items.length ? [
    h("h3", {}, t(name)),
    h("ul", {}, items.map((claim) => h("li", {}, claim.text ?? claim.claim ?? "",
      (claim.sources ?? []).map((s) => [" ", h("sup", {}, safeLink(s.url, `[${s.title}]`))])))),
  ] : null;
  return h("article", { class: "report" },
    h("p", { class: "rating" },
      h("strong", {}, report.rating ?? "—"), " · ",
      h("span", { class: tone(report.sentiment) }, number(report.sentiment, 2)), " · ",
      `${t("inst.method")}: ${report.method}`, " · ",
      `${t("inst.published")}: ${when(report.published_at)}`,
      report.model_rating ? [" · ", `${t("inst.modelrating")}: ${report.model_rating}`,
        report.rating_disagrees ? h("span", { class: "neg" }, ` (${t("inst.disagrees")})`) : null]
        : null,
      report.dropped_claims ? [" · ", `${report.dropped_claims} ${t("inst.dropped")}`] : null),
    h("p", {}, report.summary),
    claims("inst.positives", report.positives ?? []),
    claims("inst.concerns", report.concerns ?? []),
    report.facts?.length ? [
      h("h3", {}, t("inst.facts")),
      h("ul", { class: "facts" },
        report.facts.map((f) => h("li", { id: `fact-${f.id}` }, h("strong", {}, `[${f.id}] `), f.text))),
    ] : null,
    report.citations?.length ? [
      h("h3", {}, t("inst.citations")),
      h("ol", { class: "citations" },
        report.citations.map((c) => h("li", {}, safeLink(c.url, c.title)))),
    ] : null);
}

function article(item) {
  const sources = item.sources > 1 ? ` · ${t("chart.sources", { n: item.sources })}` : "";
  return h("li", { "data-marker": `n:${item.id}` }, safeLink(item.url, item.title),
    h("span", { class: "meta" },
      ` ${item.source ?? item.provider} · ${when(item.published_at)}${sources}`));
}

function filing(item) {
  return h("li", { "data-marker": `d:${item.provider}:${item.id}` },
    safeLink(item.url, item.title),
    h("span", { class: "meta" }, ` ${item.filer ?? item.provider} · ${when(item.filed_at)}`));
}

// Instrument page: price chart (range, adjustment, candles/line), sentiment timeline,
// latest report with its citations, news and disclosures.

import { api, enc, query } from "./api.js";
import { priceChart, sentimentChart } from "./chart.js";
import { fill, h, safeLink } from "./dom.js";
import { day, money, number, t, when } from "./i18n.js";
import { tone } from "./watchlist.js";

const RANGES = { "1M": 30, "3M": 91, "6M": 182, "1Y": 365, "5Y": 1826 };
// The API's `adjust` modes; `splits` (its default) reads continuously across splits.
const ADJUST = ["none", "splits", "all"];
const PAGE = 10;

/** The page of instrument `id` in `view`; returns {onEvent, refresh, dispose}. */
export function instrumentPage(view, app, id) {
  const state = { range: "3M", adjust: "splits", kind: "candles", instrument: null };
  const chart = h("div", { id: "price-chart", class: "chart-box" }, t("loading"));
  const applied = h("p", { id: "price-actions", class: "meta", "aria-live": "polite" });
  const sentiment = h("div", { id: "sentiment-chart", class: "chart-box small" });
  const report = h("div", { id: "report" });
  const news = h("ul", { id: "news", class: "items" });
  const filings = h("ul", { id: "disclosures", class: "items" });
  const title = h("h1", {}, id);
  const lists = { news: { el: news, cursor: null }, disclosures: { el: filings, cursor: null } };
  let timer = null;

  fill(
    view,
    h("p", {}, h("a", { href: "#/" }, `← ${t("inst.back")}`)),
    title,
    h("section", { class: "card", "aria-labelledby": "h-prices" },
      h("h2", { id: "h-prices" }, t("inst.prices")),
      controls(),
      chart,
      applied),
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "h-sentiment" },
        h("h2", { id: "h-sentiment" }, t("inst.sentiment")), sentiment),
      h("section", { class: "card", "aria-labelledby": "h-report" },
        h("h2", { id: "h-report" }, t("inst.report")), report)),
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
    return h("div", { class: "controls" }, range, kind,
      h("label", { class: "check" }, t("inst.adjust"), adjust));
  }

  function radio(name, value, label, checked) {
    const input = h("input", { type: "radio", name, value, checked });
    input.addEventListener("change", () => {
      state[name] = value;
      loadBars();
    });
    return h("label", {}, input, h("span", {}, label));
  }

  function moreButton(which) {
    const button = h("button", { type: "button", class: "link", hidden: true }, t("inst.more"));
    button.addEventListener("click", () => loadList(which, true));
    lists[which].more = button;
    return button;
  }

  async function loadBars() {
    const days = RANGES[state.range];
    const start = new Date(Date.now() - days * 86400e3).toISOString();
    try {
      const data = await api(
        `/instruments/${enc(id)}/bars${query({ start, adjust: state.adjust })}`,
      );
      drawBars(data.bars);
      drawActions(data.actions ?? [], data.currency);
    } catch (err) {
      fill(chart);
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
    if (!bars.length) return fill(chart, h("p", { class: "empty" }, t("inst.nobars")));
    const currency = state.instrument?.currency ?? "USD";
    const closes = bars.map((b) => b.close);
    const label = t("inst.chartlabel", {
      id,
      from: when(bars[0].ts, true),
      to: when(bars[bars.length - 1].ts, true),
      low: money(Math.min(...bars.map((b) => b.low ?? b.close)), currency),
      high: money(Math.max(...bars.map((b) => b.high ?? b.close)), currency),
      last: money(closes[closes.length - 1], currency),
    });
    fill(chart, priceChart(bars, {
      kind: state.kind,
      label,
      fmtPrice: (v) => money(v, currency),
      fmtDate: (ts) => when(ts, true),
    }));
    chart.dataset.bars = String(bars.length);
  }

  async function loadAnalysis() {
    const days = Math.max(30, RANGES[state.range]);
    try {
      const data = await api(`/instruments/${enc(id)}/analysis${query({ days })}`);
      fill(sentiment, data.timeline.length
        ? sentimentChart(data.timeline, { label: t("inst.sentiment"), fmtDate: (d) => when(d, true) })
        : h("p", { class: "empty" }, t("inst.nosentiment")));
      fill(report, data.report ? reportView(data.report) : h("p", { class: "empty" }, t("inst.noreport")));
    } catch (err) {
      app.fail(err);
    }
  }

  async function loadList(which, more = false) {
    const list = lists[which];
    try {
      const data = await api(
        `/instruments/${enc(id)}/${which}${query({ limit: PAGE, cursor: more ? list.cursor : null })}`,
      );
      const items = data[which === "news" ? "articles" : "disclosures"];
      const nodes = items.map((item) => (which === "news" ? article(item) : filing(item)));
      if (more) list.el.append(...nodes);
      else fill(list.el, nodes.length ? nodes : h("li", { class: "empty" },
        t(which === "news" ? "inst.nonews" : "inst.nodisclosures")));
      list.cursor = data.next_cursor;
      list.more.hidden = !data.next_cursor;
    } catch (err) {
      app.fail(err);
    }
  }

  async function load() {
    try {
      const instruments = await app.instruments();
      state.instrument = instruments.find((i) => i.id === id) ?? null;
      if (state.instrument) fill(title, `${state.instrument.name} (${id})`);
    } catch (err) {
      return app.fail(err);
    }
    await Promise.all([loadBars(), loadAnalysis(), loadList("news"), loadList("disclosures")]);
  }

  function later(fn) {
    clearTimeout(timer); // a burst of events refetches once
    timer = setTimeout(fn, 500);
  }

  load();
  return {
    onEvent(event) {
      if (event.instrument !== id) return;
      if (event.type === "bar") later(loadBars);
      else if (event.type === "report.published") loadAnalysis();
      else if (event.type === "article") loadList("news");
    },
    refresh: load,
    dispose() {
      clearTimeout(timer);
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
  return h("li", {}, safeLink(item.url, item.title),
    h("span", { class: "meta" }, ` ${item.source ?? item.provider} · ${when(item.published_at)}`));
}

function filing(item) {
  return h("li", {}, safeLink(item.url, item.title),
    h("span", { class: "meta" }, ` ${item.filer ?? item.provider} · ${when(item.filed_at)}`));
}

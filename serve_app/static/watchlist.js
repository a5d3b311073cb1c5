// Watchlist: last price, change, sentiment and rating per instrument; `bar` events move it.

import { api, enc, query } from "./api.js";
import { fill, h, table } from "./dom.js";
import { money, number, percent, t } from "./i18n.js";

const BAR_DAYS = 30; // enough for the last two daily bars across holidays
const SENTIMENT_DAYS = 7;

/** The watchlist page in `view`; returns {onEvent, refresh, dispose}. */
export function watchlistPage(view, app) {
  const rows = new Map(); // instrument id → {instrument, cells, last, previous, lastTs, ...}
  const body = h("div", { class: "card" }, h("p", {}, t("loading")));
  fill(view, h("h1", {}, t("wl.title")), body);
  let alive = true;

  async function load() {
    let instruments;
    try {
      instruments = await app.instruments();
    } catch (err) {
      return app.fail(err);
    }
    if (!alive) return;
    if (!instruments.length) return fill(body, h("p", {}, t("wl.empty")));
    rows.clear();
    const trs = instruments.map((instrument) => row(instrument));
    fill(
      body,
      table(
        t("wl.caption"),
        [t("wl.instrument"), t("wl.name"), t("wl.price"), t("wl.change"), t("wl.sentiment"), t("wl.rating")],
        trs,
        { id: "watchlist", class: "data" },
      ),
    );
    await Promise.all(instruments.map((i) => Promise.all([loadBars(i.id), loadAnalysis(i.id)])));
  }

  function row(instrument) {
    const cells = {
      price: h("td", { class: "num", dataset: { field: "price" } }, "—"),
      change: h("td", { class: "num", dataset: { field: "change" } }, "—"),
      sentiment: h("td", { class: "num", dataset: { field: "sentiment" } }, "—"),
      rating: h("td", { dataset: { field: "rating" } }, "—"),
    };
    const link = h("a", { href: `#/instrument/${enc(instrument.id)}` }, instrument.id);
    const tr = h(
      "tr",
      { dataset: { instrument: instrument.id } },
      h("th", { scope: "row" }, link),
      h("td", {}, instrument.name),
      cells.price,
      cells.change,
      cells.sentiment,
      cells.rating,
    );
    rows.set(instrument.id, { instrument, cells, last: null, previous: null, lastTs: null });
    return tr;
  }

  async function loadBars(id) {
    const start = new Date(Date.now() - BAR_DAYS * 86400e3).toISOString();
    try {
      const { bars } = await api(`/instruments/${enc(id)}/bars${query({ start })}`);
      const entry = rows.get(id);
      if (!entry || !bars.length) return;
      entry.last = bars[bars.length - 1].close;
      entry.lastTs = bars[bars.length - 1].ts;
      entry.previous = bars.length > 1 ? bars[bars.length - 2].close : null;
      showPrice(entry, null);
    } catch (err) {
      app.fail(err);
    }
  }

  async function loadAnalysis(id) {
    try {
      const { report, timeline } = await api(
        `/instruments/${enc(id)}/analysis${query({ days: SENTIMENT_DAYS })}`,
      );
      const entry = rows.get(id);
      if (!entry) return;
      const latest = timeline.length ? timeline[timeline.length - 1].sentiment : report?.sentiment;
      fill(entry.cells.sentiment, latest == null ? "—" : number(latest, 2));
      entry.cells.sentiment.className = `num ${tone(latest)}`;
      fill(entry.cells.rating, report?.rating ?? "—");
    } catch (err) {
      app.fail(err);
    }
  }

  function showPrice(entry, direction) {
    const { cells, last, previous, instrument } = entry;
    fill(cells.price, money(last, instrument.currency));
    const diff = previous == null || last == null ? null : last - previous;
    fill(
      cells.change,
      diff == null ? "—" : `${money(diff, instrument.currency)} (${percent(diff / previous)})`,
    );
    cells.change.className = `num ${tone(diff)}`;
    if (direction) {
      cells.price.classList.remove("flash-up", "flash-down");
      void cells.price.offsetWidth; // restart the animation
      cells.price.classList.add(direction > 0 ? "flash-up" : "flash-down");
    }
  }

  function onEvent(event) {
    const entry = rows.get(event.instrument);
    if (!entry) return;
    if (event.type === "bar") {
      const close = Number(event.payload?.close);
      if (!Number.isFinite(close)) return;
      // Change is against the previous daily close: a daily bar names it (jobs/collect.py);
      // an intraday bar only moves the price.
      const { ts = null, interval = "1d", previous_close: previous = null } = event.payload;
      if (interval === "1d") {
        if (previous != null) entry.previous = Number(previous);
        else if (ts && entry.lastTs && Date.parse(ts) > Date.parse(entry.lastTs)) {
          entry.previous = entry.last; // a new bar: the last one's close is the reference
        }
        if (ts) entry.lastTs = ts;
      }
      const before = entry.last;
      entry.last = close;
      showPrice(entry, before == null ? 1 : Math.sign(close - before) || 1);
    } else if (event.type === "report.published" || event.type === "article") {
      loadAnalysis(event.instrument);
    }
  }

  load();
  return {
    onEvent,
    refresh: load,
    dispose() {
      alive = false;
    },
  };
}

/** "pos", "neg" or "" for colouring a signed value. */
export function tone(value) {
  if (value == null || value === 0) return "";
  return value > 0 ? "pos" : "neg";
}

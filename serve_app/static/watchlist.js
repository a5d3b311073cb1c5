// Watchlist: every instrument's last price, change, 30-day sparkline, sentiment and rating
// from one `/watchlist?spark=30` answer, rendered once; any column sorts (re-appending the
// same row nodes), the filter box hides rows, and a `bar` event updates only its row. While
// a run collects, a banner shows how far it is (`/status`, then `job.progress` events) and
// instruments without data yet say "collecting…" instead of a dash.

import { api, enc, query } from "./api.js";
import { fill, h } from "./dom.js";
import { t } from "./i18n.js";
import { drawSpark, sparkBox } from "./sparkline.js";
import {
  changePct,
  debounce,
  filterEntries,
  headerRow,
  money,
  number2,
  percent,
  searchText,
  sentimentOf,
  showSort,
  sortEntries,
} from "./watchlist_table.js";

const PAGE = 1000; // the API's largest page
const SPARK = 30; // daily closes per sparkline
const REFRESH_MS = 3000; // article/report events: one watchlist re-read per burst
const STATUS_POLL_MS = 5000; // while collecting: notices a run's end (no event says so)
const FILTER_MS = 150; // typing pauses this long before the rows are filtered

/** The watchlist page in `view`; returns {onEvent, refresh, dispose}. */
export function watchlistPage(view, app) {
  const rows = new Map(); // instrument id → entry {instrument, item, tr, cells, last, ...}
  let order = []; // the entries in id order (the API's), what a sort starts from
  let sorted = { key: null, direction: null };
  const runs = new Map(); // run id → {kind, done, total}
  const banner = h("div", { id: "collecting", class: "collecting", role: "status", hidden: true });
  const body = h("div", { class: "card" }, h("p", {}, t("loading")));
  fill(view, h("h1", {}, t("wl.title")), banner, body);
  let alive = true;
  let refreshTimer = null;
  let pollTimer = null;
  let tbody = null;
  let thead = null;
  let count = null;
  let filterBox = null;
  const filterLater = debounce(() => applyFilter(), FILTER_MS);

  async function load() {
    performance.mark("wl:start");
    let instruments, status;
    try {
      [instruments, status] = await Promise.all([readAll(), api("/status")]);
    } catch (err) {
      return app.fail(err);
    }
    if (!alive) return;
    performance.mark("wl:data");
    setRuns(status.runs);
    if (!instruments.length) return fill(body, h("p", {}, t("wl.empty")));
    rows.clear();
    order = instruments.map((item) => row(item));
    tbody = h("tbody", {}, order.map((entry) => entry.tr));
    thead = h("thead", {}, headerRow(sortBy));
    count = h("span", { id: "wl-count", class: "count", role: "status" });
    filterBox = h("input", {
      id: "wl-filter",
      type: "search",
      autocomplete: "off",
      placeholder: t("wl.filter"),
      "aria-label": t("wl.filter"),
      "aria-controls": "watchlist",
      oninput: filterLater,
    });
    const tableEl = h(
      "table",
      { id: "watchlist", class: "data watchlist" },
      h("caption", {}, t("wl.caption")),
      thead,
      tbody,
    );
    fill(body, h("p", { class: "filter" }, filterBox, " ", count), tableEl);
    if (sorted.key) sortBy(sorted.key, sorted.direction);
    showCount(order.length);
    void tableEl.offsetHeight; // style and layout: the table is on screen after this
    performance.mark("wl:rendered");
    performance.measure("wl:read", "wl:start", "wl:data");
    performance.measure("wl:render", "wl:data", "wl:rendered");
  }

  /** Every row of the watchlist, a page at a time. */
  async function readAll() {
    const all = [];
    for (;;) {
      const page = await api(`/watchlist${query({ limit: PAGE, offset: all.length, spark: SPARK })}`);
      all.push(...page.instruments);
      if (!page.instruments.length || all.length >= page.total) return all;
    }
  }

  function row(item) {
    const cells = {
      price: h("td", { class: "num", dataset: { field: "price" } }),
      change: h("td", { class: "num", dataset: { field: "change" } }),
      trend: h("td", { class: "trend", dataset: { field: "trend" } }, sparkBox()),
      sentiment: h("td", { class: "num", dataset: { field: "sentiment" } }),
      rating: h("td", { dataset: { field: "rating" } }),
    };
    const link = h("a", { href: `#/instrument/${enc(item.id)}` }, item.id);
    const tr = h(
      "tr",
      { dataset: { instrument: item.id } },
      h("th", { scope: "row" }, link),
      h("td", { dataset: { field: "name" } }, item.name),
      cells.price,
      cells.change,
      cells.trend,
      cells.sentiment,
      cells.rating,
    );
    const entry = {
      instrument: item,
      item,
      tr,
      cells,
      last: item.last,
      previous: item.previous,
      lastTs: item.last_ts,
      spark: item.sparkline ?? [],
      search: searchText(item),
    };
    rows.set(item.id, entry);
    showPrice(entry, null);
    showAnalysis(entry, item);
    drawSpark(cells.trend.firstChild, entry.spark);
    return entry;
  }

  /** Sort by column `key`: ascending first, the other way on the next click. */
  function sortBy(key, direction = null) {
    const t0 = performance.now();
    const next =
      direction ?? (sorted.key === key && sorted.direction === "ascending" ? "descending" : "ascending");
    sorted = { key, direction: next };
    tbody.append(...sortEntries(order, key, next).map((entry) => entry.tr));
    showSort(thead, key, next);
    performance.measure("wl:sort", { start: t0, end: performance.now() });
  }

  function applyFilter() {
    if (!tbody) return;
    const t0 = performance.now();
    showCount(filterEntries(order, filterBox.value));
    performance.measure("wl:filter", { start: t0, end: performance.now() });
  }

  function showCount(shown) {
    fill(count, t("wl.count", { shown, total: order.length }));
  }

  /** "—", or "collecting…" while a run may still bring the value. */
  function missing(cell) {
    const pending = runs.size > 0;
    fill(cell, pending ? t("wl.pending") : "—");
    cell.classList.toggle("pending", pending);
  }

  function showPrice(entry, direction) {
    const { cells, last, previous, instrument } = entry;
    if (last == null) {
      missing(cells.price);
      missing(cells.change);
      return;
    }
    cells.price.classList.remove("pending");
    fill(cells.price, money(last, instrument.currency));
    const diff = previous == null ? null : last - previous;
    fill(
      cells.change,
      diff == null ? "—" : `${money(diff, instrument.currency)} (${percent(changePct(entry))})`,
    );
    cells.change.className = `num ${tone(diff)}`;
    if (direction) {
      cells.price.classList.remove("flash-up", "flash-down");
      void cells.price.offsetWidth; // restart the animation
      cells.price.classList.add(direction > 0 ? "flash-up" : "flash-down");
    }
  }

  function showAnalysis(entry, item) {
    const { cells } = entry;
    entry.item = item;
    const latest = sentimentOf(item);
    entry.hasAnalysis = latest != null || item.rating != null;
    if (!entry.hasAnalysis) {
      missing(cells.sentiment);
      missing(cells.rating);
      return;
    }
    fill(cells.sentiment, number2(latest));
    cells.sentiment.className = `num ${tone(latest)}`;
    fill(cells.rating, item.rating ?? "—");
    cells.rating.className = "";
  }

  /** Re-read the watchlist's sentiment and ratings (after article and report events). */
  function scheduleRefresh() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      try {
        const instruments = await readAll();
        if (!alive) return;
        for (const item of instruments) {
          const entry = rows.get(item.id);
          if (!entry) continue;
          showAnalysis(entry, item);
          if (entry.last == null && item.last != null) {
            Object.assign(entry, { last: item.last, previous: item.previous, lastTs: item.last_ts });
            entry.spark = item.sparkline ?? [];
            showPrice(entry, null);
            drawSpark(entry.cells.trend.firstChild, entry.spark);
          }
        }
      } catch (err) {
        app.fail(err);
      }
    }, REFRESH_MS);
  }

  function setRuns(list) {
    runs.clear();
    for (const run of list) runs.set(run.run_id, { kind: run.kind, done: run.done, total: run.total });
    showRuns();
  }

  function showRuns() {
    const wasHidden = banner.hidden;
    banner.hidden = runs.size === 0;
    fill(
      banner,
      [...runs.entries()].map(([id, run]) => {
        const known = run.total != null && run.done != null;
        const text = known
          ? t("wl.collecting", { kind: kindName(run.kind), done: run.done, total: run.total })
          : t("wl.collecting.start", { kind: kindName(run.kind) });
        const bar = h("progress", { max: known ? Math.max(run.total, 1) : null, "aria-label": text });
        if (known) bar.value = run.done;
        return h("p", { dataset: { run: id, kind: run.kind } }, h("span", { class: "label" }, text), bar);
      }),
    );
    if (wasHidden !== banner.hidden) {
      // The pending cells change wording when collecting starts or ends.
      for (const entry of rows.values()) {
        if (entry.last == null) showPrice(entry, null);
        if (!entry.hasAnalysis) showAnalysis(entry, entry.item);
      }
    }
    clearTimeout(pollTimer);
    if (runs.size && alive) pollTimer = setTimeout(pollStatus, STATUS_POLL_MS);
  }

  async function pollStatus() {
    try {
      const status = await api("/status");
      if (alive) setRuns(status.runs);
    } catch (err) {
      if (alive) pollTimer = setTimeout(pollStatus, STATUS_POLL_MS); // transient; try again
    }
  }

  /** A live bar: only its row changes (price, change, the sparkline's newest close); the
   * row keeps its place in a sorted table until the next sort (rows do not jump away
   * from the pointer). */
  function onBar(entry, payload) {
    const close = Number(payload?.close);
    if (!Number.isFinite(close)) return;
    // Change is against the previous daily close: a daily bar names it (jobs/collect.py);
    // an intraday bar only moves the price.
    const { ts = null, interval = "1d", previous_close: previous = null } = payload;
    if (interval === "1d") {
      const newer = ts && entry.lastTs && Date.parse(ts) > Date.parse(entry.lastTs);
      if (previous != null) entry.previous = Number(previous);
      else if (newer) entry.previous = entry.last; // a new bar: the last one's close is the reference
      entry.spark = newer || !entry.spark.length
        ? [...entry.spark, close].slice(-SPARK)
        : [...entry.spark.slice(0, -1), close];
      drawSpark(entry.cells.trend.firstChild, entry.spark);
      if (ts) entry.lastTs = ts;
    }
    const before = entry.last;
    entry.last = close;
    showPrice(entry, before == null ? 1 : Math.sign(close - before) || 1);
  }

  function onEvent(event) {
    if (event.type === "job.progress") {
      const { run_id: id, kind, done = null, total = null } = event.payload ?? {};
      if (!id) return;
      runs.set(id, { kind, done, total });
      return showRuns();
    }
    const entry = rows.get(event.instrument);
    if (!entry) return;
    if (event.type === "bar") onBar(entry, event.payload);
    else if (event.type === "report.published" || event.type === "article") scheduleRefresh();
  }

  load();
  return {
    onEvent,
    refresh: load,
    dispose() {
      alive = false;
      filterLater.cancel();
      clearTimeout(refreshTimer);
      clearTimeout(pollTimer);
    },
  };
}

function kindName(kind) {
  const key = `wl.kind.${kind}`;
  const text = t(key);
  return text === key ? t("wl.kind.other", { kind }) : text;
}

/** "pos", "neg" or "" for colouring a signed value. */
export function tone(value) {
  if (value == null || value === 0) return "";
  return value > 0 ? "pos" : "neg";
}

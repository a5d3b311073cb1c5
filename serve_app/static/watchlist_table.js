// The watchlist table's sorting, filtering and number formats, for hundreds of rows.
//
// Rows are built once; a sort re-appends the existing row nodes in the new order and a
// filter only flips `hidden` on rows whose state changes, so neither rebuilds a cell.

import { h } from "./dom.js";
import { locale, t } from "./i18n.js";
import { sparkChange } from "./sparkline.js";

const RATING_RANK = { strong_sell: 0, sell: 1, hold: 2, buy: 3, strong_buy: 4 };

/** The columns: key, header text key, and what a row sorts by (null sorts last). */
export const COLUMNS = [
  { key: "id", label: "wl.instrument", text: true, value: (e) => e.instrument.id },
  { key: "name", label: "wl.name", text: true, value: (e) => e.instrument.name },
  { key: "price", label: "wl.price", num: true, value: (e) => e.last },
  { key: "change", label: "wl.change", num: true, value: (e) => changePct(e) },
  { key: "trend", label: "wl.trend", value: (e) => sparkChange(e.spark) },
  { key: "sentiment", label: "wl.sentiment", num: true, value: (e) => sentimentOf(e.item) },
  { key: "rating", label: "wl.rating", value: (e) => RATING_RANK[e.item.rating] ?? null },
];

export function changePct(entry) {
  const { last, previous } = entry;
  return last == null || !previous ? null : (last - previous) / previous;
}

export function sentimentOf(item) {
  return item.sentiment ?? item.report_sentiment ?? null;
}

/** The header row: one sort button per column; `onSort(key)` on a click. */
export function headerRow(onSort) {
  return h(
    "tr",
    {},
    COLUMNS.map((col) =>
      h(
        "th",
        { scope: "col", class: col.num ? "num" : null, dataset: { sort: col.key } },
        h("button", { type: "button", class: "sort", onclick: () => onSort(col.key) }, t(col.label)),
      ),
    ),
  );
}

/** Mark the sorted column (`aria-sort` on its header only). */
export function showSort(thead, key, direction) {
  for (const th of thead.querySelectorAll("th[data-sort]")) {
    if (th.dataset.sort === key) th.setAttribute("aria-sort", direction);
    else th.removeAttribute("aria-sort");
  }
}

/** `entries` ordered by column `key` (stable: ties keep their order in `entries`); rows
 * without a value last in either direction; text by the page's collation. */
export function sortEntries(entries, key, direction) {
  const col = COLUMNS.find((c) => c.key === key) ?? COLUMNS[0];
  const sign = direction === "descending" ? -1 : 1;
  const collator = new Intl.Collator(locale() === "ko" ? "ko-KR" : "en-US");
  const keyed = entries.map((entry, index) => ({ entry, index, value: col.value(entry) }));
  keyed.sort((a, b) => {
    if (a.value == null || b.value == null) {
      if (a.value == null && b.value == null) return a.index - b.index;
      return a.value == null ? 1 : -1;
    }
    const order = col.text ? collator.compare(a.value, b.value) : a.value - b.value;
    return order * sign || a.index - b.index;
  });
  return keyed.map((k) => k.entry);
}

/** What a filter matches a row against: its ticker, name and provider symbols (a Korean
 * listing's Korean name is its news symbol), normalised and lower-cased. */
export function searchText(item) {
  const symbols = Object.values(item.symbols ?? {});
  return fold([item.id, item.name, ...symbols].join("\n"));
}

/** Text folded for matching: Unicode NFKC (Hangul typed as jamo or syllables alike), lower case. */
export function fold(text) {
  return text.normalize("NFKC").toLowerCase();
}

/** Show only the rows whose search text has `query`; how many are shown. */
export function filterEntries(entries, query) {
  const wanted = fold(query.trim());
  let shown = 0;
  for (const entry of entries) {
    const hide = Boolean(wanted) && !entry.search.includes(wanted);
    if (entry.tr.hidden !== hide) entry.tr.hidden = hide;
    if (!hide) shown += 1;
  }
  return shown;
}

/** `fn` called `ms` after the last of a burst of calls. */
export function debounce(fn, ms) {
  let timer = null;
  const call = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  call.cancel = () => clearTimeout(timer);
  return call;
}

/** Number formats built once per locale and currency (Intl.NumberFormat is costly to build:
 * hundreds of rows would otherwise build thousands). */
const FORMATS = new Map();
const NUMBER = { minimumFractionDigits: 2, maximumFractionDigits: 2 };
const PERCENT = { style: "percent", ...NUMBER, signDisplay: "exceptZero" };

function format(kind, currency = "") {
  const lang = locale() === "ko" ? "ko-KR" : "en-US";
  const key = `${lang}|${kind}|${currency}`;
  let found = FORMATS.get(key);
  if (!found) {
    const options = { money: { style: "currency", currency }, percent: PERCENT }[kind] ?? NUMBER;
    try {
      found = new Intl.NumberFormat(lang, options);
    } catch {
      found = new Intl.NumberFormat(lang, NUMBER); // an unknown currency code: the number
    }
    FORMATS.set(key, found);
  }
  return found;
}

/** A price in its currency, as i18n's `money` writes it. */
export function money(value, currency) {
  return value == null || Number.isNaN(value) ? "—" : format("money", currency).format(value);
}

/** A signed percentage, as i18n's `percent` writes it. */
export function percent(value) {
  return value == null || Number.isNaN(value) ? "—" : format("percent").format(value);
}

/** A number with two decimals, as i18n's `number(value, 2)` writes it. */
export function number2(value) {
  return value == null || Number.isNaN(value) ? "—" : format("number").format(value);
}

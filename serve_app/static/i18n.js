// English and Korean text. The server's STOCKRAY_LOCALE (a <meta> in index.html) is the
// default; the switch in the header overrides it for this browser (localStorage). The
// dictionaries are in i18n_text.js (every key in both).

import { TEXT } from "./i18n_text.js";

export const LOCALES = ["en", "ko"];
const STORE = "stockray.locale";
let current = initial();

function initial() {
  const chosen = localStorage.getItem(STORE);
  if (LOCALES.includes(chosen)) return chosen;
  const meta = document.querySelector('meta[name="stockray-locale"]')?.content;
  return LOCALES.includes(meta) ? meta : "en";
}

/** The locale in use: "en" or "ko". */
export function locale() {
  return current;
}

/** Switch the locale and remember it in this browser. */
export function setLocale(next) {
  if (!LOCALES.includes(next)) return;
  current = next;
  localStorage.setItem(STORE, next);
  document.documentElement.lang = next;
}

/** The text for `key` in the current locale, `{name}` filled from `vars`. */
export function t(key, vars = {}) {
  const text = TEXT[current][key] ?? TEXT.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** Fill every `[data-i18n]` element under `root` (static text in index.html). */
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

const BCP47 = { en: "en-US", ko: "ko-KR" };

/** A price in the instrument's currency (KRW without decimals). */
export function money(value, currency) {
  if (value == null || Number.isNaN(value)) return "—";
  try {
    return new Intl.NumberFormat(BCP47[current], { style: "currency", currency }).format(value);
  } catch {
    return number(value, 2);
  }
}

/** A plain number with `digits` decimals. */
export function number(value, digits = 2) {
  if (value == null || Number.isNaN(value)) return "—";
  return new Intl.NumberFormat(BCP47[current], {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(value);
}

/** A signed percentage, e.g. "+1.25%". */
export function percent(value) {
  if (value == null || Number.isNaN(value)) return "—";
  return new Intl.NumberFormat(BCP47[current], {
    style: "percent",
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
    signDisplay: "exceptZero",
  }).format(value);
}

/** A calendar day given as YYYY-MM-DD (an ex-date), the same in every time zone. */
export function day(isoDate) {
  if (!isoDate) return "—";
  return new Intl.DateTimeFormat(BCP47[current], { dateStyle: "medium", timeZone: "UTC" })
    .format(new Date(`${isoDate}T00:00:00Z`));
}

/** A date (and time, unless `dateOnly`) in the viewer's time zone. */
export function when(iso, dateOnly = false) {
  if (!iso) return "—";
  const options = dateOnly ? { dateStyle: "medium" } : { dateStyle: "medium", timeStyle: "short" };
  return new Intl.DateTimeFormat(BCP47[current], options).format(new Date(iso));
}

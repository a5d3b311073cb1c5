// The dashboard shell: key entry, hash routes, messages, the live connection, the locale.

import { ApiError, api, apiKey, setApiKey } from "./api.js";
import { fill, h } from "./dom.js";
import { LOCALES, locale, setLocale, t, translate } from "./i18n.js";
import { instrumentPage } from "./instrument.js";
import { LiveFeed } from "./live.js";
import { opsPage } from "./ops.js";
import { watchlistPage } from "./watchlist.js";

const view = document.getElementById("view");
const banner = document.getElementById("message");
const liveStatus = document.getElementById("live-status");
let page = null; // the page on screen: {onEvent, refresh, dispose}
let feed = null;
let instruments = null;

/** What pages get: the shared instrument list and the one way to report an error. */
const app = {
  async instruments() {
    instruments ??= (await api("/instruments")).instruments;
    return instruments;
  },
  fail,
  notify,
};

/** Show `err` (an ApiError or anything thrown) in the message banner; 401 asks for a key. */
function fail(err) {
  if (!(err instanceof ApiError)) {
    console.error(err);
    return notify(t("err.server", { status: "?", message: String(err) }), "error");
  }
  if (err.status === 401) return signOut(t("err.401"), "401");
  if (err.status === 403) return notify(t("err.403"), "error", "403");
  if (err.status === 429) return notify(t("err.429", { s: err.retryAfter ?? 60 }), "error", "429");
  if (err.status === 0) return notify(t("err.network"), "error", "network");
  if (err.status === 422 && Array.isArray(err.details)) {
    const problems = err.details.map((d) => `${d.field}: ${d.problem}`).join("; ");
    return notify(`${t("err.invalid")} ${problems}`, "error", "422");
  }
  notify(t("err.server", { status: err.status, message: err.message }), "error", String(err.status));
}

/** A message in the banner (`kind`: error or info); `code` marks it for tests and styling. */
function notify(text, kind = "info", code = "") {
  fill(
    banner,
    h("p", {}, text),
    h("button", { type: "button", class: "link", onclick: () => clearNotice() }, t("dismiss")),
  );
  banner.className = `message ${kind}`;
  banner.dataset.code = code;
  banner.hidden = false;
}

function clearNotice() {
  banner.hidden = true;
  banner.dataset.code = "";
  fill(banner);
}

function setLive(state, info = {}) {
  const text = {
    connecting: t("live.connecting"),
    open: t("live.open"),
    lost: t("live.lost", { s: info.retryIn }),
    restart: t("live.restart"),
    stopped: t(info.code === 4403 ? "live.closed403" : "live.closed401"),
  }[state];
  liveStatus.textContent = text;
  liveStatus.dataset.state = state;
  if (state === "stopped" && info.code === 4401) signOut(t("err.401"), "401");
}

function startLive() {
  feed?.stop();
  feed = new LiveFeed({
    key: apiKey(),
    onEvent: (event) => page?.onEvent?.(event),
    onStatus: setLive,
    onResync: () => {
      notify(t("live.lagged"));
      page?.refresh?.();
    },
  });
  feed.start();
}

function signOut(message, code) {
  setApiKey(null);
  feed?.stop();
  feed = null;
  instruments = null;
  liveStatus.textContent = "";
  liveStatus.dataset.state = "off";
  document.body.dataset.signedIn = "false";
  showKeyForm();
  if (message) notify(message, "error", code);
}

function showKeyForm() {
  page?.dispose?.();
  page = null;
  const input = h("input", {
    id: "key-input",
    name: "key",
    type: "password",
    autocomplete: "off",
    required: true,
    "aria-describedby": "key-hint",
  });
  const form = h(
    "form",
    { id: "key-form", class: "card narrow" },
    h("h1", {}, t("key.title")),
    h("label", { for: "key-input" }, t("key.label")),
    input,
    h("p", { id: "key-hint", class: "hint" }, t("key.hint")),
    h("button", { type: "submit" }, t("key.submit")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await signIn(input.value.trim());
  });
  fill(view, form);
  input.focus();
}

async function signIn(key) {
  notify(t("key.checking"));
  try {
    instruments = (await api("/instruments", { key })).instruments;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signOut(t("err.401"), "401");
    return fail(err);
  }
  setApiKey(key);
  clearNotice();
  enter();
}

function enter() {
  document.body.dataset.signedIn = "true";
  startLive();
  route();
}

function route() {
  if (!apiKey()) return showKeyForm();
  page?.dispose?.();
  const hash = location.hash.replace(/^#/, "") || "/";
  const parts = hash.split("/").filter(Boolean).map(decodeURIComponent);
  for (const link of document.querySelectorAll("nav a")) {
    const current = link.getAttribute("href") === `#${hash}` ||
      (link.getAttribute("href") === "#/" && parts[0] === "instrument");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  fill(view);
  view.dataset.page = parts[0] ?? "watchlist";
  if (parts.length === 0) page = watchlistPage(view, app);
  else if (parts[0] === "instrument" && parts[1]) page = instrumentPage(view, app, parts[1]);
  else if (parts[0] === "ops") page = opsPage(view, app);
  else {
    page = null;
    fill(view, h("p", {}, t("notfound")));
  }
  view.focus({ preventScroll: true });
}

function setupLocale() {
  const select = document.getElementById("locale");
  fill(select, LOCALES.map((code) => h("option", { value: code }, code === "ko" ? "한국어" : "English")));
  select.value = locale();
  document.documentElement.lang = locale();
  select.addEventListener("change", () => {
    setLocale(select.value);
    translate();
    if (liveStatus.dataset.state && liveStatus.dataset.state !== "off") {
      setLive(liveStatus.dataset.state === "lost" ? "connecting" : liveStatus.dataset.state);
    }
    if (apiKey()) route();
    else showKeyForm();
  });
}

document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault(); // "#view" is not a route
  view.focus();
});
document.getElementById("change-key").addEventListener("click", () => signOut());
window.addEventListener("hashchange", route);
setupLocale();
translate();
if (apiKey()) enter();
else showKeyForm();

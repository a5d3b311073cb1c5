// The REST API with the key from session storage, and the one error shape it answers with.

const KEY = "stockray.key";

/** The key entered in this tab, or null. */
export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** An answer that was not 2xx (status 0: the server was not reached). */
export class ApiError extends Error {
  constructor(status, code, message, details = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

/** `fetch` of `/api/v1{path}` with the key; the parsed JSON, or throws ApiError. */
export async function api(path, { method = "GET", body, headers = {}, key = apiKey() } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, init);
  } catch (err) {
    throw new ApiError(0, "network", String(err));
  }
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  const error = data?.error ?? {};
  const retry = Number(response.headers.get("Retry-After")) || null;
  throw new ApiError(
    response.status,
    error.code ?? "http_error",
    error.message ?? response.statusText,
    error.details ?? null,
    retry,
  );
}

/** `?a=1&b=2` from an object, skipping null/undefined values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value != null) search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const enc = encodeURIComponent;

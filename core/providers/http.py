"""The one HTTP request function every provider client uses, and the generic status mapping.

Retry-free on purpose: the provider actor owns retries, rate limits and the circuit, so a
request here is sent exactly once and every failure leaves as a typed `ProviderError`:

    httpx.TimeoutException                         -> Timeout
    httpx.TransportError (connect, read, protocol) -> Unavailable
    body cut short after the headers arrived       -> BadPayload(field="body")
    provider-specific error bodies                 -> the client's own `error_for`
    429 -> RateLimited(Retry-After)  401/403 -> AuthError  404 -> NotFound  5xx -> Unavailable
    a redirect to another host, or more than 5     -> Unavailable (not followed)
    any other non-2xx                              -> BadPayload (the request was rejected)
    a body that is not JSON                        -> BadPayload(field="body")
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from core.errors import (
    AuthError,
    BadPayload,
    NotFound,
    ProviderError,
    RateLimited,
    Timeout,
    Unavailable,
)
from core.redact import scrub

ErrorFor = Callable[[httpx.Response, Any], ProviderError | None]
"""A client's one error mapping: (response, decoded JSON or None) -> typed error or None."""

_SNIPPET = 200
MAX_REDIRECTS = 5


async def fetch_json(
    http: httpx.AsyncClient,
    provider: str,
    url: str,
    *,
    error_for: ErrorFor,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: httpx.Timeout | None = None,
) -> Any:
    """GET `url` once and return its decoded JSON, or raise the typed error it maps to."""
    request = http.build_request("GET", url, params=params, headers=headers, timeout=timeout)
    where = request.url.path  # never the query string: it may carry an API key
    response = await fetch_response(http, provider, request)
    payload = decode_json(response.content)
    error = error_for(response, payload)
    if error is not None:
        raise error
    if payload is None:
        raise BadPayload(provider, f"answer from {where} is not JSON: {snippet(response)}", "body")
    return payload


async def fetch_response(
    http: httpx.AsyncClient, provider: str, request: httpx.Request
) -> httpx.Response:
    """Send `request` (same-site redirects only) and read its whole body, or raise the
    typed error of what went wrong: Timeout, Unavailable, or BadPayload for a body cut short.
    The status is the caller's to judge."""
    where = request.url.path  # never the query string: it may carry an API key
    try:
        response = await send_following_same_site(http, provider, request)
    except httpx.TimeoutException as exc:
        raise Timeout(provider, f"no answer from {where} ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise Unavailable(provider, _describe(exc, request)) from None
    try:
        await response.aread()
    except httpx.TimeoutException as exc:
        raise Timeout(provider, f"body of {where} stalled ({type(exc).__name__})") from None
    except httpx.RemoteProtocolError:
        # Headers arrived but the body ended before its declared length: a truncated body.
        raise BadPayload(provider, f"truncated body from {where}", field="body") from None
    except httpx.TransportError as exc:
        raise Unavailable(provider, _describe(exc, request)) from None
    finally:
        await response.aclose()
    return response


async def send_following_same_site(
    http: httpx.AsyncClient, provider: str, request: httpx.Request
) -> httpx.Response:
    # Keys travel in the query string or a header (X-Api-Key), which httpx would carry to
    # whatever host a redirect names: only redirects within the provider's own host are
    # followed (http -> https included), whatever the client's own setting.
    origin, where = request.url, request.url.path
    for _ in range(MAX_REDIRECTS + 1):
        response = await http.send(request, stream=True, follow_redirects=False)
        target = response.next_request
        if target is None:
            return response
        await response.aclose()
        if not same_site(origin, target.url):
            raise Unavailable(
                provider,
                f"{where} redirects to another host ({target.url.scheme}://{target.url.host}); "
                "not followed, the request carries the key",
            )
        request = target
    raise Unavailable(provider, f"{where}: more than {MAX_REDIRECTS} redirects")


def same_site(origin: httpx.URL, target: httpx.URL) -> bool:
    """Whether a redirect from `origin` to `target` stays on the same host and port (or
    upgrades the same host from http to https)."""
    if target.host != origin.host:
        return False
    if target.scheme == origin.scheme:
        return target.port == origin.port
    upgrade = (origin.scheme, target.scheme) == ("http", "https")
    return upgrade and origin.port is None and target.port is None


def decode_json(content: bytes) -> Any:
    """The decoded JSON document, or None when the bytes are not (complete) JSON."""
    try:
        return json.loads(content)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both derive from it
        return None


def status_error(
    provider: str, response: httpx.Response, message: str | None = None
) -> ProviderError | None:
    """The generic error for a non-2xx response (None for 2xx); `message` overrides the body."""
    text = message or snippet(response)
    return error_for_status(
        provider, response.status_code, text, response.headers.get("Retry-After")
    )


def error_for_status(
    provider: str, status: int, message: str, retry_after: str | None = None
) -> ProviderError | None:
    """Map an HTTP status (or a provider code translated to one) to the typed hierarchy."""
    if 200 <= status < 300:
        return None
    if status == 429:
        return RateLimited(provider, message, parse_retry_after(retry_after))
    if status in (401, 403):
        return AuthError(provider, message)
    if status == 404:
        return NotFound(provider, message)
    if status >= 500:
        return Unavailable(provider, f"HTTP {status}: {message}")
    return BadPayload(provider, f"request rejected (HTTP {status}): {message}", field="request")


def retry_after(response: httpx.Response) -> float | None:
    """The response's Retry-After hint in seconds (None when it gave none)."""
    return parse_retry_after(response.headers.get("Retry-After"))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT even when the zone is spelled oddly
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def next_midnight(zone: ZoneInfo, now: datetime | None = None) -> datetime:
    """The next 00:00 in `zone` after `now`, in UTC: when a provider's daily quota restarts."""
    local = (now or datetime.now(UTC)).astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0, 0), zone)
    return midnight.astimezone(UTC)


def _describe(exc: Exception, request: httpx.Request) -> str:
    # Keys travel in query strings (AV, DART): no error message may repeat one.
    text = str(exc).replace(str(request.url), request.url.path)
    if request.url.query:
        text = text.replace(request.url.query.decode("ascii", "replace"), "...")
    return f"{request.url.path}: {type(exc).__name__} {text}".strip()


def snippet(response: httpx.Response) -> str:
    """The start of a response body, for error messages."""
    # Scrubbed before it is cut, so no part of an echoed key survives the cut.
    text = scrub(response.content[:4096].decode("utf-8", "replace"))[:_SNIPPET].strip()
    return text or f"HTTP {response.status_code} with an empty body"

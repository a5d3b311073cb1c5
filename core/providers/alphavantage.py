"""Alpha Vantage (`/query`): daily bars (`TIME_SERIES_DAILY`) and news (`NEWS_SENTIMENT`).

Why TIME_SERIES_DAILY and not _ADJUSTED: the adjusted function is premium-only (a free key
gets an HTTP 200 "premium endpoint" note), while raw OHLCV is what stockray stores; adjusted
prices come from stored corporate actions. So AV bars have `adj_close=None` and no actions.
Daily bars are stamped at the session open like Yahoo's (`core.providers.sessions`).
AV answers every error with HTTP 200; `av_error` reads the body. News times are taken as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import httpx

from core.errors import AuthError, BadPayload, NotFound, ProviderError, RateLimited
from core.fingerprint import article_fingerprint
from core.models import Article, Bar, Capability, Instrument
from core.providers.base import HttpProviderClient, PriceSeries
from core.providers.http import retry_after, status_error
from core.providers.payload import as_datetime, as_dict, as_float, as_int, as_list, as_str, member
from core.providers.sessions import session_open

PROVIDER = "alphavantage"
SERIES_KEY = "Time Series (Daily)"
NEWS_LIMIT_MAX = 1000  # AV's cap on `limit`
_PER = re.compile(r"\bper (second|minute|hour|day)\b", re.IGNORECASE)
_THROTTLE_WORDS = ("rate limit", "call frequency", "sparingly", "burst")
_PER_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


class AlphaVantageClient(HttpProviderClient):
    """Daily prices and English news from Alpha Vantage; needs a key (checked on first call)."""

    name = PROVIDER
    capabilities = frozenset({Capability.PRICES, Capability.NEWS})
    INTERVALS = ("1d",)

    async def fetch_bars(
        self, instrument: Instrument, start: datetime, end: datetime, interval: str = "1d"
    ) -> PriceSeries:
        """Daily bars with `start <= ts < end` (no adjusted close, no corporate actions)."""
        self._check_window(start, end)
        self._check_interval(interval)
        params = daily_params(instrument.symbol_for(PROVIDER), self._key())
        payload = await self._get_json("/query", av_error, params, instrument=instrument)
        return parse_daily(payload, instrument, start, end)

    async def fetch_news(
        self, instrument: Instrument, start: datetime, end: datetime, limit: int = 100
    ) -> list[Article]:
        """At most `limit` articles tagged with the instrument's ticker, newest first."""
        self._check_window(start, end)
        params = news_params(instrument.symbol_for(PROVIDER), start, end, limit, self._key())
        payload = await self._get_json("/query", av_error, params, instrument=instrument)
        return parse_news(payload, instrument, start, end)[:limit]


def daily_params(symbol: str, api_key: str) -> dict[str, str]:
    """Query parameters of a full daily history request."""
    return {
        "function": "TIME_SERIES_DAILY",
        "symbol": symbol,
        "outputsize": "full",
        "apikey": api_key,
    }


def news_params(
    ticker: str, start: datetime, end: datetime, limit: int, api_key: str
) -> dict[str, str]:
    """Query parameters of a news request over `[start, end)` (AV takes minutes, UTC)."""
    return {
        "function": "NEWS_SENTIMENT",
        "tickers": ticker,
        "time_from": start.astimezone(UTC).strftime("%Y%m%dT%H%M"),
        "time_to": end.astimezone(UTC).strftime("%Y%m%dT%H%M"),
        "sort": "LATEST",
        "limit": str(max(1, min(limit, NEWS_LIMIT_MAX))),
        "apikey": api_key,
    }


def av_error(response: httpx.Response, payload: Any) -> ProviderError | None:
    """AV's one error mapping: its HTTP-200 `Error Message` / `Information` / `Note` bodies."""
    if not isinstance(payload, dict) or SERIES_KEY in payload or "feed" in payload:
        return status_error(PROVIDER, response)
    error = payload.get("Error Message")
    if isinstance(error, str):
        if "apikey" in error.lower():
            return AuthError(PROVIDER, error)
        return NotFound(PROVIDER, error)  # "Invalid API call": AV's answer to an unknown symbol
    note = payload.get("Information") or payload.get("Note")
    if isinstance(note, str):
        return _note_error(note, retry_after(response))
    return status_error(PROVIDER, response)


def _note_error(note: str, header_hint: float | None) -> ProviderError:
    lowered = note.lower()
    if "apikey" in lowered:
        return AuthError(PROVIDER, note)
    # Throttling notes also advertise "premium endpoints", so they are recognised first.
    throttled = any(word in lowered for word in _THROTTLE_WORDS)
    if not throttled and "premium endpoint" in lowered:
        return AuthError(PROVIDER, note)  # the key's plan does not cover this function
    if not throttled and "invalid inputs" in lowered:
        return NotFound(PROVIDER, note)  # NEWS_SENTIMENT's answer to an unknown ticker
    # Everything else AV says in a bare note is throttling; a Retry-After header (when a
    # gateway adds one) beats the hint read from "per minute" in the text.
    per = _PER.search(note)
    hint = _PER_SECONDS.get(per.group(1).lower()) if per else None
    return RateLimited(PROVIDER, note, header_hint if header_hint is not None else hint)


def parse_daily(
    payload: Any, instrument: Instrument, start: datetime, end: datetime
) -> PriceSeries:
    """Standard daily bars from a TIME_SERIES_DAILY answer, oldest first."""
    series = as_dict(PROVIDER, member(PROVIDER, payload, SERIES_KEY, ""), SERIES_KEY)
    bars = []
    for day_text, raw in series.items():
        path = f"{SERIES_KEY}.{day_text}"
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise BadPayload(PROVIDER, f"unreadable date {day_text!r:.20}", path) from None
        ts = session_open(instrument, day)
        if not start <= ts < end:
            continue
        row = as_dict(PROVIDER, raw, path)
        o, h, lo, c = (
            as_float(PROVIDER, member(PROVIDER, row, key, path), f"{path}.{key}")
            for key in ("1. open", "2. high", "3. low", "4. close")
        )
        volume = as_int(PROVIDER, member(PROVIDER, row, "5. volume", path), f"{path}.5. volume")
        bars.append(Bar(instrument.id, "1d", ts, o, h, lo, c, None, volume, PROVIDER))
    bars.sort(key=lambda bar: bar.ts)  # AV lists newest first
    return PriceSeries(
        instrument_id=instrument.id,
        interval="1d",
        provider=PROVIDER,
        bars=tuple(bars),
        currency=instrument.currency,
        timezone=instrument.timezone,
    )


def parse_news(
    payload: Any, instrument: Instrument, start: datetime, end: datetime
) -> list[Article]:
    """Standard articles from a NEWS_SENTIMENT answer inside `[start, end)`, newest first."""
    feed = as_list(PROVIDER, member(PROVIDER, payload, "feed", ""), "feed")
    articles: dict[str, Article] = {}
    for i, raw in enumerate(feed):
        path = f"feed[{i}]"
        item = as_dict(PROVIDER, raw, path)
        published = as_datetime(
            PROVIDER,
            member(PROVIDER, item, "time_published", path),
            f"{path}.time_published",
            "%Y%m%dT%H%M%S",
        )
        if not start <= published < end:
            continue
        url = as_str(PROVIDER, member(PROVIDER, item, "url", path), f"{path}.url")
        title = as_str(PROVIDER, member(PROVIDER, item, "title", path), f"{path}.title")
        article = Article(
            fingerprint=article_fingerprint(url, title),
            url=url,
            title=title.strip(),
            summary=_text(item.get("summary")),
            published_at=published,
            provider=PROVIDER,
            language="en",
            source=_text(item.get("source")),
            instrument_ids=(instrument.id,),
        )
        articles.setdefault(article.fingerprint, article)
    return sorted(articles.values(), key=lambda a: a.published_at, reverse=True)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None

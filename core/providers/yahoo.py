"""Yahoo Finance chart API (`/v8/finance/chart/{symbol}`): bars, dividends and splits.

query -> params (`chart_params`), fetch (`YahooClient.fetch_bars`), parse (`parse_chart`).
Daily and longer bars are re-stamped at the session open (see `core.providers.sessions`);
intraday bars keep Yahoo's bar-start timestamp. Needs no key.
Yahoo's `close` is already split-adjusted (`adjclose` also folds in dividends); the split
events returned beside the bars say where that happened.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from core.errors import BadPayload, ProviderError
from core.models import Bar, Capability, CorporateAction, Instrument
from core.providers.base import HttpProviderClient, PriceSeries
from core.providers.http import error_for_status, status_error
from core.providers.payload import (
    as_dict,
    as_float,
    as_int,
    as_list,
    as_utc,
    member,
)
from core.providers.sessions import session_open, trading_date

PROVIDER = "yahoo"
INTERVALS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "5d", "1wk", "1mo", "3mo")
# Stamped at the session open of their first trading day; the rest are intraday.
SESSION_INTERVALS = frozenset({"1d", "5d", "1wk", "1mo", "3mo"})
# Yahoo refuses older intraday data (HTTP 422); daily and longer go back to listing.
MAX_HISTORY = {
    "1m": timedelta(days=30),
    **{i: timedelta(days=60) for i in ("2m", "5m", "15m", "30m", "90m")},
    "60m": timedelta(days=730),
    "1h": timedelta(days=730),
}
# Yahoo's chart errors name an HTTP reason phrase; used when the status itself is 2xx.
_CODE_STATUS = {
    "Not Found": 404,
    "Unauthorized": 401,
    "Forbidden": 403,
    "Too Many Requests": 429,
    "Bad Request": 400,
    "Unprocessable Entity": 422,
    "Internal Server Error": 500,
    "Service Unavailable": 503,
}
_QUOTE_FIELDS = ("open", "high", "low", "close", "volume")


class YahooClient(HttpProviderClient):
    """Prices from Yahoo's chart API, with adjusted close and corporate actions."""

    name = PROVIDER
    capabilities = frozenset({Capability.PRICES})
    needs_key = False
    INTERVALS = INTERVALS
    MAX_HISTORY = MAX_HISTORY

    async def fetch_bars(
        self, instrument: Instrument, start: datetime, end: datetime, interval: str = "1d"
    ) -> PriceSeries:
        """Bars with `start <= ts < end`, plus dividends and splits in that window."""
        self._check_window(start, end)
        self._check_interval(interval)
        symbol = quote(instrument.symbol_for(PROVIDER), safe="")
        payload = await self._get_json(
            f"/v8/finance/chart/{symbol}",
            chart_error,
            chart_params(start, end, interval),
            instrument=instrument,
        )
        return parse_chart(payload, instrument, interval, start, end)


def chart_params(start: datetime, end: datetime, interval: str) -> dict[str, str]:
    """Query parameters of one chart request."""
    return {
        "period1": str(int(start.timestamp())),
        "period2": str(int(end.timestamp())),
        "interval": interval,
        "events": "div,splits",
    }


def chart_error(response: httpx.Response, payload: Any) -> ProviderError | None:
    """Yahoo's one error mapping: the `{chart|finance: {error: {code, description}}}` body."""
    error = _error_object(payload)
    if error is None:
        return status_error(PROVIDER, response)
    code = str(error.get("code") or "")
    message = f"{code}: {error.get('description') or ''}".strip(": ")
    status = response.status_code if response.status_code >= 400 else _CODE_STATUS.get(code, 400)
    return error_for_status(PROVIDER, status, message, response.headers.get("Retry-After"))


def _error_object(payload: Any) -> dict[str, Any] | None:
    if not isinstance(payload, dict):
        return None
    for root in ("chart", "finance"):  # "finance" is the envelope of auth/crumb failures
        body = payload.get(root)
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return body["error"]
    return None


def parse_chart(
    payload: Any, instrument: Instrument, interval: str, start: datetime, end: datetime
) -> PriceSeries:
    """Standard bars and actions from a chart answer; pure, so tested on recorded payloads."""
    results = as_list(
        PROVIDER,
        member(PROVIDER, member(PROVIDER, payload, "chart", ""), "result", "chart"),
        "chart.result",
    )
    if not results:
        return PriceSeries(
            instrument.id, interval, PROVIDER, timezone=instrument.timezone, split_adjusted=True
        )
    result = as_dict(PROVIDER, results[0], "chart.result[0]")
    meta = as_dict(PROVIDER, member(PROVIDER, result, "meta", "chart.result[0]", {}), "meta")
    bars = _bars(result, instrument, interval, start, end)
    actions = _actions(result, instrument, start, end)
    currency = meta.get("currency") if isinstance(meta.get("currency"), str) else None
    return PriceSeries(
        instrument_id=instrument.id,
        interval=interval,
        provider=PROVIDER,
        bars=bars,
        actions=actions,
        currency=currency or instrument.currency,
        timezone=instrument.timezone,
        split_adjusted=True,
    )


def _bars(
    result: dict[str, Any], instrument: Instrument, interval: str, start: datetime, end: datetime
) -> tuple[Bar, ...]:
    base = "chart.result[0]"
    # Yahoo omits "timestamp" (and leaves `quote: [{}]`) when the window holds no bars.
    stamps = as_list(PROVIDER, member(PROVIDER, result, "timestamp", base, []), f"{base}.timestamp")
    if not stamps:
        return ()
    indicators = member(PROVIDER, result, "indicators", base)
    quotes = as_list(
        PROVIDER,
        member(PROVIDER, indicators, "quote", f"{base}.indicators"),
        f"{base}.indicators.quote",
    )
    if not quotes:
        raise BadPayload(PROVIDER, "no quote series", f"{base}.indicators.quote")
    quote0 = quotes[0]
    columns = {
        f: _column(quote0, f, f"{base}.indicators.quote[0]", len(stamps)) for f in _QUOTE_FIELDS
    }
    adjclose = _adjclose(indicators, len(stamps))

    by_ts: dict[datetime, Bar] = {}
    for i, raw_ts in enumerate(stamps):
        o, h, lo, c = (
            as_float(PROVIDER, columns[f][i], f"{base}.indicators.quote[0].{f}[{i}]")
            for f in ("open", "high", "low", "close")
        )
        if o is None and h is None and lo is None and c is None:
            continue  # a holiday or halted session: Yahoo sends a row of nulls
        ts = as_utc(PROVIDER, raw_ts, f"{base}.timestamp[{i}]")
        if interval in SESSION_INTERVALS:
            ts = session_open(instrument, trading_date(instrument, ts))
        if not start <= ts < end:
            continue
        adj = (
            None
            if adjclose is None
            else as_float(PROVIDER, adjclose[i], f"{base}.indicators.adjclose[0].adjclose[{i}]")
        )
        volume = as_int(PROVIDER, columns["volume"][i], f"{base}.indicators.quote[0].volume[{i}]")
        # During a session Yahoo repeats the live bar under the current time; the last wins.
        by_ts[ts] = Bar(instrument.id, interval, ts, o, h, lo, c, adj, volume, PROVIDER)
    return tuple(sorted(by_ts.values(), key=lambda bar: bar.ts))


def _column(quote0: Any, name: str, path: str, length: int) -> list[Any]:
    values = as_list(PROVIDER, member(PROVIDER, quote0, name, path), f"{path}.{name}")
    if len(values) != length:
        raise BadPayload(
            PROVIDER, f"{len(values)} values for {length} timestamps", f"{path}.{name}"
        )
    return values


def _adjclose(indicators: Any, length: int) -> list[Any] | None:
    # Intraday answers carry no adjclose at all; daily ones carry one series per quote.
    path = "chart.result[0].indicators"
    series = as_list(
        PROVIDER, member(PROVIDER, indicators, "adjclose", path, []), f"{path}.adjclose"
    )
    if not series or not isinstance(series[0], dict) or "adjclose" not in series[0]:
        return None
    return _column(series[0], "adjclose", f"{path}.adjclose[0]", length)


def _actions(
    result: dict[str, Any], instrument: Instrument, start: datetime, end: datetime
) -> tuple[CorporateAction, ...]:
    base = "chart.result[0].events"
    events = as_dict(PROVIDER, result.get("events") or {}, base)
    actions: list[CorporateAction] = []
    dividends = as_dict(PROVIDER, events.get("dividends") or {}, f"{base}.dividends")
    for key, raw in dividends.items():
        path = f"{base}.dividends.{key}"
        event = as_dict(PROVIDER, raw, path)
        day = trading_date(instrument, as_utc(PROVIDER, event.get("date", key), f"{path}.date"))
        amount = as_float(PROVIDER, member(PROVIDER, event, "amount", path), f"{path}.amount")
        actions.append(CorporateAction(instrument.id, "dividend", day, None, amount, PROVIDER))
    for key, raw in as_dict(PROVIDER, events.get("splits") or {}, f"{base}.splits").items():
        path = f"{base}.splits.{key}"
        event = as_dict(PROVIDER, raw, path)
        day = trading_date(instrument, as_utc(PROVIDER, event.get("date", key), f"{path}.date"))
        actions.append(
            CorporateAction(instrument.id, "split", day, _ratio(event, path), None, PROVIDER)
        )
    inside = [a for a in actions if start <= session_open(instrument, a.ex_date) < end]
    return tuple(sorted(inside, key=lambda a: (a.ex_date, a.kind)))


def _ratio(event: dict[str, Any], path: str) -> float:
    numerator = as_float(PROVIDER, member(PROVIDER, event, "numerator", path), f"{path}.numerator")
    denominator = as_float(
        PROVIDER, member(PROVIDER, event, "denominator", path), f"{path}.denominator"
    )
    if not numerator or not denominator:
        raise BadPayload(PROVIDER, "split ratio must be two positive numbers", path)
    return numerator / denominator

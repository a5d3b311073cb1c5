"""Yahoo Finance chart API (`/v8/finance/chart/{symbol}`): bars, dividends and splits.

query -> params (`chart_params`), fetch (`YahooClient.fetch_bars`), parse (`parse_chart`).
Yahoo divides OHLC, volume and dividend amounts by every split up to the request; the
parser multiplies them back with the split events, so bars leave here as traded, in the
instrument's major currency (`GBp` -> GBP). Daily and longer bars are re-stamped at their
period's first session open (`core.providers.sessions`), a trailing live row merges into
its period, and bars of periods still trading are `partial`. `adjclose` is not read:
adjusted series are derived from the stored actions. Needs no key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
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
from core.providers.sessions import PERIOD_INTERVALS, bar_period, session_open, trading_date
from core.providers.units import minor_unit_divisor

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
_PRICES = ("open", "high", "low", "close")
_INTRADAY_STEP = {i: timedelta(minutes=int(i[:-1]) * (60 if i.endswith("h") else 1))
                  for i in INTERVALS if i[-1] in "mh" and not i.endswith("mo")}  # fmt: skip
DEFAULT_DECIMALS = 2  # when the answer has no priceHint
AMOUNT_DECIMALS = 6  # dividends: 0.205 per share is common, the price hint would cut it
# A window ending longer ago than this may predate splits Yahoo has applied since.
LATER_SPLITS_AFTER = timedelta(days=1)


class YahooClient(HttpProviderClient):
    """Prices from Yahoo's chart API, as traded, with splits and dividends."""

    name = PROVIDER
    capabilities = frozenset({Capability.PRICES})
    needs_key = False
    INTERVALS = INTERVALS
    MAX_HISTORY = MAX_HISTORY

    async def fetch_bars(
        self, instrument: Instrument, start: datetime, end: datetime, interval: str = "1d"
    ) -> PriceSeries:
        """Bars with `start <= ts < end` as traded, plus dividends and splits in that window.

        Yahoo divides every bar by the splits up to the request, but lists only the splits
        inside the window: for a window that ends before today a second, cheap monthly
        request finds the splits since, so older bars can be multiplied back as well.
        """
        self._check_window(start, end)
        self._check_interval(interval)
        as_of = datetime.now(UTC)
        payload = await self._chart(instrument, chart_params(start, end, interval))
        later: tuple[CorporateAction, ...] = ()
        if end < as_of - LATER_SPLITS_AFTER:
            params = {**chart_params(end, as_of, "1mo"), "events": "splits"}
            later = split_events(await self._chart(instrument, params), instrument)
        return parse_chart(
            payload, instrument, interval, start, end, as_of=as_of, later_splits=later
        )

    async def _chart(self, instrument: Instrument, params: dict[str, str]) -> Any:
        symbol = quote(instrument.symbol_for(PROVIDER), safe="")
        return await self._get_json(
            f"/v8/finance/chart/{symbol}", chart_error, params, instrument=instrument
        )


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
    payload: Any,
    instrument: Instrument,
    interval: str,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime | None = None,
    later_splits: Sequence[CorporateAction] = (),
) -> PriceSeries:
    """Bars as traded and actions from a chart answer; pure, so tested on recorded payloads.

    `later_splits`: splits after `end` that Yahoo has already divided the bars by.
    `as_of`: when the answer was fetched (bars of periods still trading are partial).
    """
    results = as_list(
        PROVIDER,
        member(PROVIDER, member(PROVIDER, payload, "chart", ""), "result", "chart"),
        "chart.result",
    )
    series = PriceSeries(instrument.id, interval, PROVIDER, currency=instrument.currency,
                         timezone=instrument.timezone)  # fmt: skip
    if not results:
        return series
    result = as_dict(PROVIDER, results[0], "chart.result[0]")
    meta = as_dict(PROVIDER, member(PROVIDER, result, "meta", "chart.result[0]", {}), "meta")
    quoted = meta.get("currency") if isinstance(meta.get("currency"), str) else None
    if not result.get("timestamp") and not result.get("events"):
        return series  # nothing to store, so nothing whose currency could be wrong
    stated = _raw_actions(result, instrument)
    units = Units(
        divisor=minor_unit_divisor(PROVIDER, quoted, instrument.currency, "meta.currency"),
        decimals=_price_hint(meta),
        splits=_splits([*stated, *later_splits]),
    )
    bars = _bars(result, instrument, interval, units, as_of or datetime.now(UTC))
    inside = [b for b in bars if start <= b.ts < end]
    actions = _actions(stated, instrument, units, start, end, later_splits)
    return replace(series, bars=tuple(inside), actions=actions)


@dataclass(frozen=True, slots=True)
class Units:
    """How to turn Yahoo's numbers into stored ones: minor units, rounding, later splits."""

    divisor: int  # 100 for prices quoted in pence or cents
    decimals: int  # Yahoo's priceHint: the decimals its prices are quoted with
    splits: tuple[tuple[date, float], ...]  # (ex-date, ratio) of every split Yahoo applied

    def factor(self, day: date) -> float:
        """Shares of `day` per share of today: the product of the splits after `day`."""
        return math.prod(ratio for ex_date, ratio in self.splits if ex_date > day)

    def price(self, value: float | None, factor: float) -> float | None:
        """An as-traded price in the instrument's currency from a split-adjusted quote."""
        if value is None:
            return None
        # Rounded to the quote's own decimals first: the float32 noise Yahoo adds would
        # otherwise make the same bar differ after every new split.
        traded = round(value * factor, self.decimals)
        return traded if self.divisor == 1 else round(traded / self.divisor, self.decimals + 2)

    def amount(self, value: float, factor: float) -> float:
        """A dividend as paid, in the instrument's currency (amounts carry extra decimals)."""
        return round(value * factor / self.divisor, AMOUNT_DECIMALS)

    def volume(self, value: int | None, factor: float) -> int | None:
        """An as-traded share count from a split-adjusted one."""
        return None if value is None else round(value / factor)


def _price_hint(meta: dict[str, Any]) -> int:
    hint = meta.get("priceHint")
    return hint if isinstance(hint, int) and 0 <= hint <= 8 else DEFAULT_DECIMALS


def _splits(actions: Sequence[CorporateAction]) -> tuple[tuple[date, float], ...]:
    """(ex-date, ratio) of each split, once per ex-date (a later answer's wins)."""
    found = {a.ex_date: a.ratio for a in actions if a.kind == "split"}
    return tuple(sorted((day, ratio) for day, ratio in found.items() if ratio))


def _bars(
    result: dict[str, Any], instrument: Instrument, interval: str, units: Units, as_of: datetime
) -> list[Bar]:
    base = "chart.result[0]"
    # Yahoo omits "timestamp" (and leaves `quote: [{}]`) when the window holds no bars.
    stamps = as_list(PROVIDER, member(PROVIDER, result, "timestamp", base, []), f"{base}.timestamp")
    if not stamps:
        return []
    indicators = member(PROVIDER, result, "indicators", base)
    quotes = as_list(
        PROVIDER,
        member(PROVIDER, indicators, "quote", f"{base}.indicators"),
        f"{base}.indicators.quote",
    )
    if not quotes:
        raise BadPayload(PROVIDER, "no quote series", f"{base}.indicators.quote")
    columns = {
        f: _column(quotes[0], f, f"{base}.indicators.quote[0]", len(stamps)) for f in _QUOTE_FIELDS
    }
    session = interval in SESSION_INTERVALS
    step = None if session else _INTRADAY_STEP[interval]
    by_ts: dict[datetime, Bar] = {}
    for i, raw_ts in enumerate(stamps):
        path = f"{base}.indicators.quote[0]"
        o, h, lo, c = (as_float(PROVIDER, columns[f][i], f"{path}.{f}[{i}]") for f in _PRICES)
        if o is None and h is None and lo is None and c is None:
            continue  # a holiday or halted session: Yahoo sends a row of nulls
        stamped = as_utc(PROVIDER, raw_ts, f"{base}.timestamp[{i}]")
        day = trading_date(instrument, stamped)
        if session:
            ts, closes_at = bar_period(instrument, interval, day)
        else:
            ts = _on_grid(stamped, session_open(instrument, day), step)
            closes_at = ts + step
        factor = units.factor(day)
        volume = as_int(PROVIDER, columns["volume"][i], f"{path}.volume[{i}]")
        bar = Bar(
            instrument.id, interval, ts,
            *(units.price(v, factor) for v in (o, h, lo, c)),
            units.volume(volume, factor), PROVIDER, partial=closes_at > as_of,
        )  # fmt: skip
        earlier = by_ts.get(ts)
        by_ts[ts] = bar if earlier is None else _merge_live(earlier, bar, interval)
    return sorted(by_ts.values(), key=lambda b: b.ts)


def _on_grid(stamped: datetime, opened: datetime, step: timedelta) -> datetime:
    """The start of the intraday bar holding `stamped` (a live row is off the grid)."""
    if stamped < opened:
        return stamped  # pre-market rows keep their own stamps
    return opened + (stamped - opened) // step * step


def _merge_live(bar: Bar, live: Bar, interval: str) -> Bar:
    """A trailing live row folded into the bar of its period.

    During and after a session Yahoo appends a row stamped at `regularMarketTime`. For a
    day (or an intraday bar) it repeats the bar with fresher values: its volume is the
    bar's so far. For a week or month it holds only today's trading, so its volume adds
    to the period's (yfinance merges it the same way).
    """
    if interval in PERIOD_INTERVALS:
        volumes = [v for v in (bar.volume, live.volume) if v is not None]
        volume = sum(volumes) if volumes else None
    else:
        volume = _pick(max, bar.volume, live.volume)
    return replace(
        bar,
        open=bar.open if bar.open is not None else live.open,
        high=_pick(max, bar.high, live.high),
        low=_pick(min, bar.low, live.low),
        close=live.close if live.close is not None else bar.close,
        volume=volume,
        partial=bar.partial or live.partial,
    )


def _pick(choose: Any, a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else choose(a, b)


def _column(quote0: Any, name: str, path: str, length: int) -> list[Any]:
    values = as_list(PROVIDER, member(PROVIDER, quote0, name, path), f"{path}.{name}")
    if len(values) != length:
        raise BadPayload(
            PROVIDER, f"{len(values)} values for {length} timestamps", f"{path}.{name}"
        )
    return values


def split_events(payload: Any, instrument: Instrument) -> tuple[CorporateAction, ...]:
    """Only the splits of a chart answer (the later-splits request reads nothing else)."""
    results = as_list(
        PROVIDER,
        member(PROVIDER, member(PROVIDER, payload, "chart", ""), "result", "chart"),
        "chart.result",
    )
    if not results:
        return ()
    result = as_dict(PROVIDER, results[0], "chart.result[0]")
    return tuple(a for a in _raw_actions(result, instrument) if a.kind == "split")


def _raw_actions(result: dict[str, Any], instrument: Instrument) -> list[CorporateAction]:
    """Every action of the answer as Yahoo states it (dividends still split-adjusted)."""
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
    return actions


def _actions(
    stated: Sequence[CorporateAction],
    instrument: Instrument,
    units: Units,
    start: datetime,
    end: datetime,
    later: Sequence[CorporateAction],
) -> tuple[CorporateAction, ...]:
    actions = []
    for action in stated:
        if not start <= session_open(instrument, action.ex_date) < end:
            continue
        if action.kind == "dividend" and action.amount is not None:
            # Yahoo's amounts are per share of today, like its prices: back to as paid.
            amount = units.amount(action.amount, units.factor(action.ex_date))
            action = replace(action, amount=amount)
        actions.append(action)
    actions.extend(a for a in later if a.kind == "split")
    unique = {(a.kind, a.ex_date): a for a in actions}
    return tuple(sorted(unique.values(), key=lambda a: (a.ex_date, a.kind)))


def _ratio(event: dict[str, Any], path: str) -> float:
    numerator = as_float(PROVIDER, member(PROVIDER, event, "numerator", path), f"{path}.numerator")
    denominator = as_float(
        PROVIDER, member(PROVIDER, event, "denominator", path), f"{path}.denominator"
    )
    if not numerator or not denominator:
        raise BadPayload(PROVIDER, "split ratio must be two positive numbers", path)
    return numerator / denominator

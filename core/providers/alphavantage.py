"""Alpha Vantage (`/query`): daily bars (`TIME_SERIES_DAILY[_ADJUSTED]`), news (`NEWS_SENTIMENT`),
fundamentals (`INCOME_STATEMENT` + `BALANCE_SHEET`, both on free keys; `{}` for a symbol
without statements).

What a key may ask depends on its plan (`plan: {tier: ...}` in providers.yaml, `PLANS`):
free gets `TIME_SERIES_DAILY` with `outputsize=compact` (the latest 100 sessions), so a
window reaching further back is refused up front with `PlanLimit` (nothing sent) and the
router fails over; premium gets `TIME_SERIES_DAILY_ADJUSTED` with `outputsize=full`, whose
split coefficients and dividends become `CorporateAction`s. Bars are as traded either way
("1. open".."4. close"), stamped at the session open (`core.providers.sessions`).
AV answers every error with HTTP 200; `av_error` reads the body. News times are taken as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from core.errors import (
    AuthError,
    BadPayload,
    NotFound,
    PlanLimit,
    ProviderError,
    QuotaExhausted,
    RateLimited,
)
from core.fundamentals import ACCOUNTS, AV_FIELDS, av_period, parse_amount
from core.models import Article, Bar, Capability, CorporateAction, FinancialFact, Instrument
from core.providers.base import HttpProviderClient, PriceSeries, news_article
from core.providers.http import next_midnight, retry_after, status_error
from core.providers.payload import as_datetime, as_dict, as_float, as_int, as_list, as_str, member
from core.providers.sessions import bar_period, session_open
from core.providers.units import conventional_quote, minor_unit_divisor

PROVIDER = "alphavantage"
SERIES_KEY = "Time Series (Daily)"
NEWS_LIMIT_MAX = 1000  # AV's cap on `limit`
QUOTA_ZONE = ZoneInfo("America/New_York")  # AV's daily quota restarts at midnight there
_THROTTLE_WORDS = ("rate limit", "call frequency", "sparingly", "burst")
_PRICE_KEYS = ("1. open", "2. high", "3. low", "4. close")
STATEMENT_FUNCTIONS = ("INCOME_STATEMENT", "BALANCE_SHEET")
_DATA_KEYS = (SERIES_KEY, "feed", "annualReports", "quarterlyReports")
_REPORTS = (("annualReports", True), ("quarterlyReports", False))


@dataclass(frozen=True, slots=True)
class AvPlan:
    """What one AV plan tier may ask for daily prices."""

    function: str
    outputsize: str
    sessions: int | None  # how many of the latest sessions it serves (None: all)


PLANS: dict[str, AvPlan] = {
    "free": AvPlan("TIME_SERIES_DAILY", "compact", 100),
    "premium": AvPlan("TIME_SERIES_DAILY_ADJUSTED", "full", None),
}
DEFAULT_PLAN = "free"


class AlphaVantageClient(HttpProviderClient):
    """Daily prices and English news from Alpha Vantage; needs a key (checked on first call)."""

    name = PROVIDER
    capabilities = frozenset({Capability.PRICES, Capability.NEWS, Capability.FUNDAMENTALS})
    INTERVALS = ("1d",)
    PLANS = PLANS
    CALLS: ClassVar[dict[Capability, int]] = {Capability.FUNDAMENTALS: len(STATEMENT_FUNCTIONS)}

    def __init__(self, base_url: str, *, plan: str | None = None, **kwargs: Any) -> None:
        if plan is not None and plan not in PLANS:
            raise ValueError(f"{PROVIDER} has no plan {plan!r}; it has {sorted(PLANS)}")
        super().__init__(base_url, plan=plan or DEFAULT_PLAN, **kwargs)

    async def fetch_bars(
        self, instrument: Instrument, start: datetime, end: datetime, interval: str = "1d"
    ) -> PriceSeries:
        """Daily bars with `start <= ts < end`; on premium also splits and dividends."""
        self._check_window(start, end)
        self._check_interval(interval)
        key = self._key()  # no key at all says more than what its plan would cover
        plan = PLANS[self.plan]
        now = datetime.now(UTC)
        if plan.sessions is not None and start <= plan_reach(instrument, plan.sessions, now):
            raise PlanLimit(
                PROVIDER,
                f"the {self.plan} plan serves the latest {plan.sessions} sessions only; "
                f"{instrument.id} from {start.date().isoformat()} needs a premium key",
            )
        params = daily_params(instrument.symbol_for(PROVIDER), key, plan)
        payload = await self._get_json("/query", av_error, params, instrument=instrument)
        return parse_daily(payload, instrument, start, end, as_of=now)

    async def fetch_news(
        self, instrument: Instrument, start: datetime, end: datetime, limit: int = 100
    ) -> list[Article]:
        """At most `limit` articles tagged with the instrument's ticker, newest first."""
        self._check_window(start, end)
        params = news_params(instrument.symbol_for(PROVIDER), start, end, limit, self._key())
        payload = await self._get_json("/query", av_error, params, instrument=instrument)
        return parse_news(payload, instrument, start, end)[:limit]

    async def fetch_fundamentals(
        self, instrument: Instrument, start: datetime, end: datetime
    ) -> list[FinancialFact]:
        """Income statement and balance sheet figures of the annual and quarterly reports
        whose fiscal period ends in `[start, end)` (two calls)."""
        self._check_window(start, end)
        key = self._key()
        facts: list[FinancialFact] = []
        for function in STATEMENT_FUNCTIONS:
            params = {"function": function, "symbol": instrument.symbol_for(PROVIDER),
                      "apikey": key}  # fmt: skip
            payload = await self._get_json("/query", av_error, params, instrument=instrument)
            facts += parse_statements(payload, instrument, start.date(), end.date())
        return facts


def plan_reach(instrument: Instrument, sessions: int, now: datetime) -> datetime:
    """A window starting at or before this instant needs more than the latest `sessions`.

    Counted in weekdays from today: holidays and a session not yet closed only make the
    real reach longer, so the check errs on the side of refusing.
    """
    first = _weekdays_back(now.astimezone(ZoneInfo(instrument.timezone)).date(), sessions - 1)
    return session_open(instrument, _weekdays_back(first, 1))


def _weekdays_back(day: date, count: int) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    while count > 0:
        day -= timedelta(days=1)
        count -= day.weekday() < 5
    return day


def daily_params(symbol: str, api_key: str, plan: AvPlan = PLANS[DEFAULT_PLAN]) -> dict[str, str]:
    """Query parameters of a daily series request within `plan`."""
    return {
        "function": plan.function,
        "symbol": symbol,
        "outputsize": plan.outputsize,
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
    if not isinstance(payload, dict) or any(k in payload for k in _DATA_KEYS):
        return status_error(PROVIDER, response)
    error = payload.get("Error Message")
    if isinstance(error, str):
        if "apikey" in error.lower():
            return AuthError(PROVIDER, error)
        return NotFound(PROVIDER, error)  # "Invalid API call": AV's answer to an unknown symbol
    note = payload.get("Information") or payload.get("Note")
    if isinstance(note, str):
        return note_error(note, retry_after(response))
    return status_error(PROVIDER, response)


def note_error(note: str, header_hint: float | None = None) -> ProviderError:
    """The typed error of an `Information` / `Note` text; a Retry-After header beats the text."""
    lowered = note.lower()
    if "demo purposes" in lowered or "**demo**" in lowered:
        return PlanLimit(PROVIDER, note)  # the demo key serves the documented examples only
    if "apikey" in lowered:
        return AuthError(PROVIDER, note)
    # Every throttling notice also advertises premium plans and endpoints, and mentions
    # several periods: the burst notice names "per day" too, the per-minute note "per day".
    if "sparingly" in lowered or "per second" in lowered:
        return RateLimited(PROVIDER, note, _first(header_hint, 1.0))
    if "per minute" in lowered:
        return RateLimited(PROVIDER, note, _first(header_hint, 60.0))
    if "per day" in lowered or "daily rate limit" in lowered:
        return QuotaExhausted(PROVIDER, note, next_midnight(QUOTA_ZONE))
    if any(word in lowered for word in _THROTTLE_WORDS):
        return RateLimited(PROVIDER, note, header_hint)
    if "premium endpoint" in lowered or "premium feature" in lowered:
        return PlanLimit(PROVIDER, note)  # the key's plan does not cover this request
    if "invalid inputs" in lowered:
        return NotFound(PROVIDER, note)  # NEWS_SENTIMENT's answer to an unknown ticker
    return RateLimited(PROVIDER, note, header_hint)  # what else AV says in a bare note


def _first(hint: float | None, default: float) -> float:
    return default if hint is None else hint


def parse_daily(
    payload: Any,
    instrument: Instrument,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime | None = None,
) -> PriceSeries:
    """Bars as traded (oldest first) and, from an adjusted answer, splits and dividends.

    `{}` is AV's answer when it has no data: an empty series. `as_of`: when the answer was
    fetched (the bar of a session still trading is partial).
    """
    series = PriceSeries(instrument.id, "1d", PROVIDER, currency=instrument.currency,
                         timezone=instrument.timezone)  # fmt: skip
    if payload == {}:
        return series
    rows = as_dict(PROVIDER, member(PROVIDER, payload, SERIES_KEY, ""), SERIES_KEY)
    as_of = as_of or datetime.now(UTC)
    # AV names no currency: London's pence (and the like) go by the exchange's convention.
    quoted = conventional_quote(instrument.exchange, instrument.currency)
    divisor = minor_unit_divisor(PROVIDER, quoted, instrument.currency, "currency")
    bars, actions = [], []
    for day_text, raw in rows.items():
        path = f"{SERIES_KEY}.{day_text}"
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise BadPayload(PROVIDER, f"unreadable date {day_text!r:.20}", path) from None
        ts, closes_at = bar_period(instrument, "1d", day)
        if not start <= ts < end:
            continue
        row = as_dict(PROVIDER, raw, path)
        o, h, lo, c = (_major(_number(row, key, path), divisor) for key in _PRICE_KEYS)
        adjusted = "6. volume" in row  # the adjusted series puts volume sixth
        volume_key = "6. volume" if adjusted else "5. volume"
        volume = as_int(PROVIDER, member(PROVIDER, row, volume_key, path), f"{path}.{volume_key}")
        bars.append(
            Bar(instrument.id, "1d", ts, o, h, lo, c, volume, PROVIDER, partial=closes_at > as_of)
        )
        if adjusted:
            actions += _actions(row, path, instrument, day, divisor)
    bars.sort(key=lambda bar: bar.ts)  # AV lists newest first
    actions.sort(key=lambda action: (action.ex_date, action.kind))
    return PriceSeries(
        instrument_id=instrument.id,
        interval="1d",
        provider=PROVIDER,
        bars=tuple(bars),
        actions=tuple(actions),
        currency=instrument.currency,
        timezone=instrument.timezone,
    )


def _number(row: dict[str, Any], key: str, path: str) -> float | None:
    return as_float(PROVIDER, member(PROVIDER, row, key, path), f"{path}.{key}")


def _major(value: float | None, divisor: int) -> float | None:
    """A price in the instrument's major currency (pence to pounds, to a tenth of a penny)."""
    return value if value is None or divisor == 1 else round(value / divisor, 6)


def _actions(
    row: dict[str, Any], path: str, instrument: Instrument, day: date, divisor: int
) -> list[CorporateAction]:
    """The split and dividend an adjusted row shows on its day (its ex-date)."""
    found = []
    coefficient = _number(row, "8. split coefficient", path)
    if coefficient is not None and coefficient > 0 and coefficient != 1.0:
        found.append(CorporateAction(instrument.id, "split", day, coefficient, None, PROVIDER))
    dividend = _number(row, "7. dividend amount", path)
    if dividend is not None and dividend > 0:
        amount = _major(dividend, divisor)
        found.append(CorporateAction(instrument.id, "dividend", day, None, amount, PROVIDER))
    return found


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
        article = news_article(
            PROVIDER,
            instrument,
            url,
            title,
            published,
            language="en",
            summary=item.get("summary"),
            source=item.get("source"),
        )
        articles.setdefault(article.fingerprint, article)
    return sorted(articles.values(), key=lambda a: a.published_at, reverse=True)


def parse_statements(
    payload: Any, instrument: Instrument, start: date, end: date
) -> list[FinancialFact]:
    """Facts of an INCOME_STATEMENT or BALANCE_SHEET answer, reports whose
    `fiscalDateEnding` is in `[start, end)`; "None" amounts are no fact, `{}` is none."""
    if payload == {}:
        return []
    facts: list[FinancialFact] = []
    for key, annual in _REPORTS:
        reports = as_list(PROVIDER, member(PROVIDER, payload, key, "", []), key)
        for i, raw in enumerate(reports):
            path = f"{key}[{i}]"
            report = as_dict(PROVIDER, raw, path)
            text = as_str(PROVIDER, member(PROVIDER, report, "fiscalDateEnding", path),
                          f"{path}.fiscalDateEnding")  # fmt: skip
            try:
                ends = date.fromisoformat(text)
            except ValueError:
                raise BadPayload(
                    PROVIDER, f"unreadable date {text!r:.20}", f"{path}.fiscalDateEnding"
                ) from None
            if not start <= ends < end:
                continue
            currency = report.get("reportedCurrency")
            for field, account in AV_FIELDS.items():
                if field not in report:
                    continue
                try:
                    value = parse_amount(report[field])
                except ValueError as err:
                    raise BadPayload(PROVIDER, str(err), f"{path}.{field}") from None
                if value is None:
                    continue
                facts.append(
                    FinancialFact(
                        instrument_id=instrument.id,
                        period=av_period(ends, annual),
                        period_end=ends,
                        statement=ACCOUNTS[account],
                        account=account,
                        consolidated=True,  # US filers report consolidated statements
                        value=value,
                        currency=currency if isinstance(currency, str) else instrument.currency,
                        provider=PROVIDER,
                    )
                )
    return facts

"""Exchange sessions: the one convention for the timestamps of daily and longer bars.

Sessions, holidays, late opens and early closes come from `exchange_calendars` (chosen
over `pandas_market_calendars`, which wraps it: one dependency fewer, and it has every
exchange a watchlist names here: XKRX, XNYS, XLON, XETR, XTKS, XHKG, XIDX, XSHG, …).

- A daily bar is stamped at its session's open (UTC): 09:30 New York, 09:00 Seoul, 10:00
  Seoul on a late-open day. A day the calendar does not list (a provider's bar on a day the
  library thinks is a holiday, or beyond its range) gets the exchange's regular open time.
- A weekly, monthly or quarterly bar is stamped at the first session of its period.
- A bar is partial while the last session of its period has not closed.
The same trading day therefore gets the same `ts` whichever provider served it.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache, partial
from importlib.metadata import version
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.models import Instrument

# Exchange names used in watchlists -> ISO MIC of the calendar. An ISO MIC works directly.
CALENDAR_BY_EXCHANGE: dict[str, str] = {
    "NASDAQ": "XNYS",  # NASDAQ trades NYSE's sessions and holidays
    "NYSE": "XNYS",
    "NYSEARCA": "XNYS",
    "AMEX": "XNYS",
    "TSX": "XTSE",
    "KRX": "XKRX",
    "KOSPI": "XKRX",
    "KOSDAQ": "XKRX",
    "KONEX": "XKRX",
    "TSE": "XTKS",
    "JPX": "XTKS",
    "HKEX": "XHKG",
    "SSE": "XSHG",
    "SZSE": "XSHG",  # Shenzhen keeps Shanghai's sessions; the library has no XSHE
    "LSE": "XLON",
    "XETRA": "XETR",
    "EURONEXT": "XPAR",
    "IDX": "XIDX",
    "ASX": "XASX",
}
# Used when the exchange is unknown: the main market of the instrument's time zone.
CALENDAR_BY_ZONE: dict[str, str] = {
    "America/New_York": "XNYS",
    "America/Toronto": "XTSE",
    "Asia/Seoul": "XKRX",
    "Asia/Tokyo": "XTKS",
    "Asia/Hong_Kong": "XHKG",
    "Asia/Shanghai": "XSHG",
    "Asia/Jakarta": "XIDX",
    "Europe/London": "XLON",
    "Europe/Berlin": "XETR",
    "Europe/Paris": "XPAR",
    "Australia/Sydney": "XASX",
}
EARLIEST = date(1990, 1, 1)
_LIBRARY = version("exchange_calendars")  # the disk copies are per library version
PERIOD_INTERVALS = frozenset({"1wk", "1mo", "3mo"})
"""Bars covering several sessions, stamped at the first session of their period."""


@dataclass(frozen=True, slots=True)
class ExchangeCalendar:
    """An exchange's sessions as sorted dates with their UTC open and close instants."""

    mic: str
    days: tuple[date, ...]
    opens: dict[date, datetime]
    closes: dict[date, datetime]
    regular_open: time
    regular_close: time
    zone: ZoneInfo

    def is_session(self, day: date) -> bool:
        """Whether the exchange trades on `day`."""
        return day in self.opens

    def open_at(self, day: date) -> datetime:
        """UTC open of `day`'s session (the regular open time when `day` is not listed)."""
        known = self.opens.get(day)
        if known is not None:
            return known
        return datetime.combine(day, self.regular_open, self.zone).astimezone(UTC)

    def close_at(self, day: date) -> datetime:
        """UTC close of `day`'s session (the regular close time when `day` is not listed)."""
        known = self.closes.get(day)
        if known is not None:
            return known
        return datetime.combine(day, self.regular_close, self.zone).astimezone(UTC)

    def sessions(self, first: date, last: date) -> tuple[date, ...]:
        """Session dates in `[first, last]`."""
        return self.days[bisect_left(self.days, first) : bisect_right(self.days, last)]


def calendar_name(instrument: Instrument) -> str | None:
    """The ISO MIC of the instrument's calendar, or None when neither exchange nor zone maps."""
    exchange = instrument.exchange.upper()
    if exchange in CALENDAR_BY_EXCHANGE:
        return CALENDAR_BY_EXCHANGE[exchange]
    if exchange in _known_calendars():
        return exchange
    return CALENDAR_BY_ZONE.get(instrument.timezone)


def calendar_for(instrument: Instrument) -> ExchangeCalendar:
    """The instrument's exchange calendar; weekdays 09:00-17:00 local when none is known."""
    name = calendar_name(instrument)
    if name is None:
        return _weekday_calendar(instrument.timezone)
    return _calendar(name)


def session_open(instrument: Instrument, trading_day: date) -> datetime:
    """UTC instant of the open on `trading_day`: the `ts` of that day's daily bar."""
    return calendar_for(instrument).open_at(trading_day)


def trading_date(instrument: Instrument, ts: datetime) -> date:
    """The exchange-local calendar date of an aware instant."""
    return ts.astimezone(ZoneInfo(instrument.timezone)).date()


def period_bounds(interval: str, day: date) -> tuple[date, date]:
    """First and last calendar date of the week, month or quarter holding `day`."""
    if interval == "1wk":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    months = 3 if interval == "3mo" else 1
    first = date(day.year, (day.month - 1) // months * months + 1, 1)
    month_after = first.month + months
    after = date(first.year + (month_after - 1) // 12, (month_after - 1) % 12 + 1, 1)
    return first, after - timedelta(days=1)


def bar_period(instrument: Instrument, interval: str, day: date) -> tuple[datetime, datetime]:
    """(ts, closes_at) of the bar of `interval` holding trading day `day`.

    `ts` is the open of the first session of its period (the day itself for daily bars);
    `closes_at` the close of the period's last session: until then the bar is partial.
    """
    calendar = calendar_for(instrument)
    if interval not in PERIOD_INTERVALS:
        return calendar.open_at(day), calendar.close_at(day)
    first, last = period_bounds(interval, day)
    sessions = calendar.sessions(first, last) or (day,)
    return calendar.open_at(sessions[0]), calendar.close_at(sessions[-1])


@lru_cache(maxsize=1)
def _known_calendars() -> frozenset[str]:
    import exchange_calendars as xc  # 1.5 s to import: only when a name needs looking up

    return frozenset(xc.get_calendar_names(include_aliases=False))


@cache
def _calendar(name: str) -> ExchangeCalendar:
    """The calendar from today's disk copy, else built by the library (and saved)."""
    path = _cache_dir() / f"{name}-{_LIBRARY}-{date.today().isoformat()}.json"
    try:
        return _from_json(name, json.loads(path.read_text()))
    except (OSError, ValueError, KeyError):
        pass
    data = _build(name)
    _save(path, data)
    return _from_json(name, data)


def _build(name: str) -> dict[str, Any]:
    # Measured: a few hundred ms per calendar, XKRX 3-10 s (pandas maps its lunar holidays
    # year by year), and 1.5 s to import the library; a provider actor's first request or a
    # job's task must not wait for that, so the sessions are kept on disk for the day
    # (about 20 ms to load).
    import exchange_calendars as xc

    factory = xc.calendar_utils.global_calendar_dispatcher._calendar_factories.get(name)
    bound = getattr(factory, "bound_min", lambda: None)()
    start = max(EARLIEST, bound.date()) if bound is not None else EARLIEST
    cal = xc.get_calendar(name, start=start.isoformat())
    schedule = cal.schedule
    return {
        "days": [ts.date().toordinal() for ts in schedule.index],
        "opens": [int(_utc(ts).timestamp()) for ts in schedule["open"]],
        "closes": [int(_utc(ts).timestamp()) for ts in schedule["close"]],
        "regular_open": cal.open_times[-1][1].isoformat(),
        "regular_close": cal.close_times[-1][1].isoformat(),
        "zone": str(cal.tz),
    }


def _from_json(name: str, data: dict[str, Any]) -> ExchangeCalendar:
    days = tuple(map(date.fromordinal, data["days"]))
    stamp = partial(datetime.fromtimestamp, tz=UTC)
    return ExchangeCalendar(
        mic=name,
        days=days,
        opens=dict(zip(days, map(stamp, data["opens"]), strict=True)),
        closes=dict(zip(days, map(stamp, data["closes"]), strict=True)),
        regular_open=time.fromisoformat(data["regular_open"]),
        regular_close=time.fromisoformat(data["regular_close"]),
        zone=ZoneInfo(data["zone"]),
    )


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "stockray" / "calendars"


def _save(path: Path, data: dict[str, Any]) -> None:
    """Write atomically; older copies of the same calendar go. A read-only disk is fine."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob(f"{path.name.split('-')[0]}-*.json"):
            old.unlink(missing_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass


def _utc(stamp: Any) -> datetime:
    return stamp.to_pydatetime().astimezone(UTC)  # datetime's UTC, not the library's


@cache
def _weekday_calendar(zone: str) -> ExchangeCalendar:
    tz = ZoneInfo(zone)
    first, last = EARLIEST, date.today() + timedelta(days=366)
    days = tuple(
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if (first + timedelta(days=n)).weekday() < 5
    )
    opening, closing = time(9, 0), time(17, 0)
    opens = {d: datetime.combine(d, opening, tz).astimezone(UTC) for d in days}
    closes = {d: datetime.combine(d, closing, tz).astimezone(UTC) for d in days}
    return ExchangeCalendar("weekdays", days, opens, closes, opening, closing, tz)

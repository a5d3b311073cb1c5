"""Trading calendar: weekdays only (no holidays), sessions in the exchange's time zone.

Trading days are numbered from 0 = 2000-01-03 (the first weekday of 2000), so the n-th day
and a day's number convert in O(1) and a price path can be indexed by day number.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

FIRST_DAY = date(2000, 1, 3)
SESSION_MINUTES = 390

# Regular session open per exchange time zone; both KRX and US sessions last 6.5 hours.
_SESSION_OPEN = {"Asia/Seoul": time(9, 0), "America/New_York": time(9, 30)}


def day_number(day: date) -> int:
    """Number of `day` if it is a trading day, else the number of the next trading day."""
    delta = (day - FIRST_DAY).days
    weeks, weekday = divmod(delta, 7)
    return weeks * 5 + min(weekday, 5)


def last_day_number(day: date) -> int:
    """Number of the last trading day on or before `day` (-1 if none)."""
    delta = (day - FIRST_DAY).days
    weeks, weekday = divmod(delta, 7)
    return weeks * 5 + min(weekday, 4)


def day_of(number: int) -> date:
    """The date of trading day `number`."""
    weeks, weekday = divmod(number, 5)
    return FIRST_DAY + timedelta(days=weeks * 7 + weekday)


def is_trading_day(day: date) -> bool:
    """Whether markets trade on `day` (weekdays; holidays are not modelled)."""
    return day.weekday() < 5 and day >= FIRST_DAY


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo."""
    return ZoneInfo(name)


@lru_cache(maxsize=1 << 17)
def session_open(day: date, tz: str) -> int:
    """Unix seconds of the regular session's open on `day` in time zone `tz`."""
    local = datetime.combine(day, _SESSION_OPEN.get(tz, time(9, 30)), tzinfo=zone(tz))
    return int(local.timestamp())


def local_date(epoch: float, tz: str) -> date:
    """The calendar date in `tz` at unix time `epoch`."""
    return datetime.fromtimestamp(epoch, zone(tz)).date()


def utc_date(epoch: float) -> date:
    """The UTC calendar date at unix time `epoch`."""
    return datetime.fromtimestamp(epoch, UTC).date()


def gmt_offset(epoch: float, tz: str) -> tuple[int, str]:
    """(offset seconds, abbreviation) of `tz` at unix time `epoch`, e.g. (-18000, "EST")."""
    local = datetime.fromtimestamp(epoch, zone(tz))
    offset = local.utcoffset()
    return int(offset.total_seconds()) if offset else 0, local.tzname() or tz


def last_session_number(epoch: float, tz: str, closed: bool) -> int:
    """The latest trading day whose session has opened (or, with `closed`, ended) by `epoch`."""
    number = last_day_number(local_date(epoch, tz))
    end = SESSION_MINUTES * 60 if closed else 0
    while number >= 0 and session_open(day_of(number), tz) + end > epoch:
        number -= 1
    return number


def parse_iso(text: str, end: bool = False) -> datetime:
    """ISO date or datetime as UTC; a bare date means its start (or, with `end`, its end)."""
    text = text.strip().replace("Z", "+00:00")
    if len(text) == 10:
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return day + timedelta(days=1, microseconds=-1) if end else day
    ts = datetime.fromisoformat(text)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)

"""Day numbering and time zones: weekdays numbered from 0 = 2000-01-03.

Every weekday has a number, so the n-th day and a day's number convert in O(1) and a price
path can be indexed by day number. Which weekdays are sessions, and when they open, is
sim.sessions' business (the exchange's real calendar).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

FIRST_DAY = date(2000, 1, 3)


def day_number(day: date) -> int:
    """Number of `day` if it is a weekday, else the number of the next weekday."""
    delta = (day - FIRST_DAY).days
    weeks, weekday = divmod(delta, 7)
    return weeks * 5 + min(weekday, 5)


def last_day_number(day: date) -> int:
    """Number of the last weekday on or before `day` (-1 if none)."""
    delta = (day - FIRST_DAY).days
    weeks, weekday = divmod(delta, 7)
    return weeks * 5 + min(weekday, 4)


def day_of(number: int) -> date:
    """The date of weekday `number`."""
    weeks, weekday = divmod(number, 5)
    return FIRST_DAY + timedelta(days=weeks * 7 + weekday)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo."""
    return ZoneInfo(name)


def utc_epoch(*fields: int) -> int:
    """Unix time, in whole seconds, of `datetime(*fields)` in UTC."""
    return int(datetime(*fields, tzinfo=UTC).timestamp())


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


def parse_iso(text: str, end: bool = False) -> datetime:
    """ISO date or datetime as UTC; a bare date means its start (or, with `end`, its end)."""
    text = text.strip().replace("Z", "+00:00")
    if len(text) == 10:
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return day + timedelta(days=1, microseconds=-1) if end else day
    ts = datetime.fromisoformat(text)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)

"""Exchange sessions from `exchange_calendars`, over the weekday numbering of sim.calendar.

Prices are generated for every weekday (sim.calendar numbers); providers serve only the days
that are sessions of the instrument's exchange, stamped at that session's real open (late
opens and early closes included). Beyond the calendar's range (it reaches about a year
ahead), or for an exchange without a calendar, every weekday is a regular session.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections import Counter
from datetime import date, datetime, time
from functools import cache
from importlib.metadata import version
from pathlib import Path

from sim.calendar import FIRST_DAY, day_number, day_of, last_day_number, local_date, zone

# Exchange names of watchlists -> exchange_calendars codes.
CALENDARS = {
    "NASDAQ": "XNYS",
    "NYSE": "XNYS",
    "KRX": "XKRX",
    "KOSPI": "XKRX",
    "KOSDAQ": "XKRX",
    "LSE": "XLON",
    "XETR": "XETR",
    "XETRA": "XETR",
    "TSE": "XTKS",
    "HKEX": "XHKG",
    "XHKG": "XHKG",
    "IDX": "XIDX",
    "SSE": "XSHG",
    "SZSE": "XSHG",
}
_BY_ZONE = {
    "America/New_York": "XNYS",
    "Asia/Seoul": "XKRX",
    "Europe/London": "XLON",
    "Europe/Berlin": "XETR",
    "Asia/Tokyo": "XTKS",
    "Asia/Hong_Kong": "XHKG",
    "Asia/Jakarta": "XIDX",
    "Asia/Shanghai": "XSHG",
}
_DEFAULT_HOURS = {"Asia/Seoul": (time(9, 0), 390), "America/New_York": (time(9, 30), 390)}
_LOCK = threading.Lock()
_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stockray" / "sim"


class ExchangeSessions:
    """Which weekday numbers are sessions of one exchange, and when each opens and closes."""

    def __init__(
        self,
        tz: str,
        regular: tuple[time, int],
        covered: tuple[int, int] = (0, -1),
        closed: frozenset[int] = frozenset(),
        hours: dict[int, tuple[int, int]] | None = None,
    ) -> None:
        self.tz = tz
        self.regular_open, self.regular_minutes = regular
        self.covered = covered  # weekday numbers the calendar describes
        self.closed = closed  # weekdays in `covered` that are not sessions (holidays)
        self._hours = hours or {}  # (open, close) unix seconds per session in `covered`

    def is_session(self, n: int) -> bool:
        """Whether weekday number `n` is a session."""
        return n >= 0 and n not in self.closed

    def hours(self, n: int) -> tuple[int, int]:
        """(open, close) of session `n` in unix seconds."""
        found = self._hours.get(n)
        if found is not None:
            return found
        local = datetime.combine(day_of(n), self.regular_open, tzinfo=zone(self.tz))
        start = int(local.timestamp())
        return start, start + self.regular_minutes * 60

    def open(self, n: int) -> int:
        """Unix seconds of session `n`'s open."""
        return self.hours(n)[0]

    def close(self, n: int) -> int:
        """Unix seconds of session `n`'s close."""
        return self.hours(n)[1]

    def next_session(self, n: int) -> int:
        """`n` if it is a session, else the next session's number."""
        n = max(n, 0)
        while n in self.closed:
            n += 1
        return n

    def prev_session(self, n: int) -> int:
        """`n` if it is a session, else the previous session's number (-1 if none)."""
        while n >= 0 and n in self.closed:
            n -= 1
        return n

    def back(self, n: int, count: int) -> int:
        """The session `count` sessions before session `n` (clipped at the first)."""
        for _ in range(count):
            if n <= 0:
                return 0
            n = self.prev_session(n - 1)
        return max(n, 0)

    def latest(self, epoch: float, closed: bool = False) -> int:
        """The latest session that has opened (or, with `closed`, ended) by `epoch`."""
        n = self.prev_session(last_day_number(local_date(epoch, self.tz)))
        while n >= 0 and self.hours(n)[1 if closed else 0] > epoch:
            n = self.prev_session(n - 1)
        return n

    def first_session(self) -> int:
        """The first session on or after the sim's first day."""
        return self.next_session(0)


@cache
def _weekdays(tz: str) -> ExchangeSessions:
    return ExchangeSessions(tz, _DEFAULT_HOURS.get(tz, (time(9, 30), 390)))


def _schedule(code: str) -> tuple[str, list[date], list[int], list[int]]:
    """(zone, session days, opens, closes) of a calendar, from today's disk copy if any.

    Building XKRX takes the library 3-10 s (its lunar holidays); every sim start and every
    test's sim would pay it, so the schedule is kept on disk for the day.
    """
    path = _CACHE / f"{code}-{version('exchange_calendars')}-{date.today().isoformat()}.json"
    try:
        data = json.loads(path.read_text())
        return data["tz"], list(map(date.fromordinal, data["days"])), data["opens"], data["closes"]
    except (OSError, ValueError, KeyError):
        pass
    import exchange_calendars  # 1.5 s to import: only when a calendar must be built

    with warnings.catch_warnings():  # the library's own pandas deprecations
        warnings.simplefilter("ignore")
        cal = exchange_calendars.get_calendar(code, start="1999-01-01")
    tz, days = str(cal.tz), [ts.date() for ts in cal.sessions]
    opens = [int(ts.timestamp()) for ts in cal.opens]
    closes = [int(ts.timestamp()) for ts in cal.closes]
    data = {"tz": tz, "days": [d.toordinal() for d in days], "opens": opens, "closes": closes}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob(f"{code}-*.json"):  # earlier days' copies
            old.unlink(missing_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: built again next time
    return tz, days, opens, closes


@cache
def _load(code: str) -> ExchangeSessions:
    tz, days, opens, closes = _schedule(code)
    hours: dict[int, tuple[int, int]] = {}
    for day, o, c in zip(days, opens, closes, strict=True):
        if day >= FIRST_DAY and day.weekday() < 5:
            hours[day_number(day)] = (o, c)
    first, last = min(hours), max(hours)
    closed = frozenset(n for n in range(first, last + 1) if n not in hours)
    regular = _regular_hours(tz, opens[-60:], closes[-60:])
    return ExchangeSessions(tz, regular, (first, last), closed, hours)


def _regular_hours(tz: str, opens: list[int], closes: list[int]) -> tuple[time, int]:
    """The most common (local open, minutes) of recent sessions: used beyond the calendar."""
    seen: Counter = Counter()
    for o, c in zip(opens, closes, strict=True):
        local = datetime.fromtimestamp(o, zone(tz))
        seen[(local.time(), (c - o) // 60)] += 1
    return seen.most_common(1)[0][0] if seen else (time(9, 30), 390)


def calendar_code(exchange: str, tz: str) -> str | None:
    """The exchange_calendars code for an exchange name (or, failing that, its time zone)."""
    return CALENDARS.get(exchange.upper()) or _BY_ZONE.get(tz)


def sessions_for(exchange: str, tz: str) -> ExchangeSessions:
    """The sessions of `exchange` (weekdays in `tz` when no calendar is known)."""
    code = calendar_code(exchange, tz)
    if code is None:
        return _weekdays(tz)
    with _LOCK:  # building a calendar takes seconds: once per process
        return _load(code)

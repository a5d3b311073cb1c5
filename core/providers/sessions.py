"""Exchange sessions: the one convention for daily bar timestamps.

A daily (or longer) bar is stamped at its trading date's regular session open in the
exchange's time zone, converted to UTC: 09:30 America/New_York, 09:00 Asia/Seoul. That is
what Yahoo sends for daily bars, and every provider is normalised to it, so the same
trading day gets the same `ts` whichever provider served it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from core.models import Instrument

_OPEN_BY_EXCHANGE: dict[str, time] = {
    "NASDAQ": time(9, 30),
    "NYSE": time(9, 30),
    "NYSEARCA": time(9, 30),
    "AMEX": time(9, 30),
    "TSX": time(9, 30),
    "KRX": time(9, 0),
    "KOSPI": time(9, 0),
    "KOSDAQ": time(9, 0),
    "KONEX": time(9, 0),
    "TSE": time(9, 0),
    "JPX": time(9, 0),
    "HKEX": time(9, 30),
    "SSE": time(9, 30),
    "SZSE": time(9, 30),
    "LSE": time(8, 0),
    "XETRA": time(9, 0),
    "EURONEXT": time(9, 0),
}
# Used when the exchange is not in the table above: the main market of that zone.
_OPEN_BY_ZONE: dict[str, time] = {
    "America/New_York": time(9, 30),
    "America/Toronto": time(9, 30),
    "Asia/Seoul": time(9, 0),
    "Asia/Tokyo": time(9, 0),
    "Asia/Hong_Kong": time(9, 30),
    "Asia/Shanghai": time(9, 30),
    "Europe/London": time(8, 0),
    "Europe/Berlin": time(9, 0),
    "Europe/Paris": time(9, 0),
}


def regular_open(instrument: Instrument) -> time:
    """Local wall-clock time at which the instrument's exchange opens its regular session."""
    by_exchange = _OPEN_BY_EXCHANGE.get(instrument.exchange.upper())
    if by_exchange is not None:
        return by_exchange
    return _OPEN_BY_ZONE.get(instrument.timezone, time(0, 0))


def session_open(instrument: Instrument, trading_day: date) -> datetime:
    """UTC instant of the regular open on `trading_day`: the `ts` of that day's daily bar."""
    local = datetime.combine(trading_day, regular_open(instrument), ZoneInfo(instrument.timezone))
    return local.astimezone(UTC)


def trading_date(instrument: Instrument, ts: datetime) -> date:
    """The exchange-local calendar date of an aware instant."""
    return ts.astimezone(ZoneInfo(instrument.timezone)).date()

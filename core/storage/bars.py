"""Reading prices: instruments, as-traded bars, corporate actions and the closes that
dividend factors need (see `core.adjust`). The writers are in `core.storage.writers`."""

from __future__ import annotations

from datetime import date, datetime

from core.models import Bar, CorporateAction, Instrument
from core.storage.db import Db

PREVIOUS_CLOSE_WINDOW_DAYS = 14
"""A dividend's previous close is the last daily close at most this many days before its
ex-date (the longest market holidays are ~9 days); an older one belongs to a gap in the
data, not to the dividend, so the dividend is reported unadjustable instead."""

_INSTRUMENT = """
    SELECT id, name, exchange, currency, timezone, symbols FROM instruments WHERE id = $1"""

_BARS = """
    SELECT instrument_id, interval, ts, open, high, low, close, volume, provider, partial
    FROM bars WHERE instrument_id = $1 AND interval = $2 AND ts >= $3 AND ts < $4
    ORDER BY ts"""

_ACTIONS = """
    SELECT instrument_id, kind, ex_date, ratio, amount, provider FROM corporate_actions
    WHERE instrument_id = $1 ORDER BY ex_date, kind"""

# The ex-date's midnight in the exchange's zone: every session before it is a candidate.
_PREVIOUS_CLOSES = """
    SELECT d.ex_date, prev.close
    FROM corporate_actions d
    JOIN instruments i ON i.id = d.instrument_id
    CROSS JOIN LATERAL (SELECT d.ex_date::timestamp AT TIME ZONE i.timezone AS midnight) m
    LEFT JOIN LATERAL (
        SELECT b.close FROM bars b
        WHERE b.instrument_id = d.instrument_id AND b.interval = '1d'
          AND b.ts < m.midnight AND b.ts >= m.midnight - make_interval(days => $2)
          AND b.close IS NOT NULL
        ORDER BY b.ts DESC LIMIT 1) prev ON true
    WHERE d.instrument_id = $1 AND d.kind = 'dividend'
    ORDER BY d.ex_date"""


async def instrument(db: Db, instrument_id: str) -> Instrument | None:
    """The instrument with this canonical id, or None."""
    row = await db.fetchrow(_INSTRUMENT, instrument_id)
    return None if row is None else Instrument(**dict(row))


async def instruments(db: Db) -> list[Instrument]:
    """Every instrument, ordered by id."""
    rows = await db.fetch(
        "SELECT id, name, exchange, currency, timezone, symbols FROM instruments ORDER BY id"
    )
    return [Instrument(**dict(r)) for r in rows]


async def read_bars(
    db: Db, instrument_id: str, interval: str, start: datetime, end: datetime
) -> list[Bar]:
    """The instrument's bars of `interval` with `start <= ts < end`, as traded, oldest first."""
    rows = await db.fetch(_BARS, instrument_id, interval, start, end)
    return [Bar(**dict(r)) for r in rows]


async def read_actions(db: Db, instrument_id: str) -> list[CorporateAction]:
    """The instrument's splits and dividends, oldest first."""
    return [CorporateAction(**dict(r)) for r in await db.fetch(_ACTIONS, instrument_id)]


async def previous_closes(db: Db, instrument_id: str) -> dict[date, float | None]:
    """For each of the instrument's dividends, by ex-date: the as-traded close of the last
    daily session before it (None when no daily bar is stored in the window before it)."""
    rows = await db.fetch(_PREVIOUS_CLOSES, instrument_id, PREVIOUS_CLOSE_WINDOW_DAYS)
    return {r["ex_date"]: r["close"] for r in rows}

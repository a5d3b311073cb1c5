"""Backfill checkpoints: one row per (backfill, instrument, capability, chunk start).

A rerun of the same `backfill_id` skips the chunks already marked done.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

_MARK = """
    INSERT INTO backfill_chunks AS c (backfill_id, instrument_id, capability, interval,
                                      period_start, period_end, status, rows, provider, error)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (backfill_id, instrument_id, capability, period_start) DO UPDATE SET
        interval = EXCLUDED.interval, period_end = EXCLUDED.period_end,
        status = EXCLUDED.status, rows = EXCLUDED.rows, provider = EXCLUDED.provider,
        error = EXCLUDED.error, updated_at = now()"""


async def done_chunks(conn: asyncpg.Connection, backfill_id: str) -> set[tuple[str, str, datetime]]:
    """(instrument_id, capability, period_start) of every chunk of this backfill marked done."""
    rows = await conn.fetch(
        """SELECT instrument_id, capability, period_start FROM backfill_chunks
           WHERE backfill_id = $1 AND status = 'done'""",
        backfill_id,
    )
    return {(r["instrument_id"], r["capability"], r["period_start"]) for r in rows}


async def mark_chunk(
    conn: asyncpg.Connection,
    backfill_id: str,
    instrument_id: str,
    capability: str,
    interval: str | None,
    period_start: datetime,
    period_end: datetime,
    status: str,
    rows: int,
    provider: str | None,
    error: str | None,
) -> None:
    """Record a chunk as 'done' or 'failed' (a later mark of the same chunk replaces it)."""
    await conn.execute(
        _MARK,
        backfill_id,
        instrument_id,
        str(capability),
        interval,
        period_start,
        period_end,
        status,
        rows,
        provider,
        error,
    )

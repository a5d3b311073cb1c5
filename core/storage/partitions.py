"""The partitions of `bars` (migration 0015): yearly for daily intervals, monthly for
intraday ones, each level with a DEFAULT partition so an insert never fails.

The writer calls `ensure_bar_partitions` before each batch (the database function
`bars_ensure_partitions` creates what is missing, idempotently and under an advisory lock);
retention lists the intraday partitions and drops those wholly older than its cutoff.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from core.storage.db import Db

DAILY, INTRADAY = "bars_daily", "bars_intraday"
_ENSURE = "SELECT bars_ensure_partitions($1::text[], $2::timestamptz[], $3::timestamptz[])"
# The bounds as the server prints them ("FOR VALUES FROM ('…') TO ('…')"), read back as
# timestamps; NULL bounds for a DEFAULT partition.
_PARTITIONS = r"""
    SELECT c.relname AS name, p.relname AS parent,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']+)''\)')::timestamptz
               AS lo,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
               AS hi
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname = ANY($1::text[])
    ORDER BY p.relname, lo NULLS LAST"""


@dataclass(frozen=True, slots=True)
class BarPartition:
    """One leaf partition of `bars`: its table, parent and [lo, hi) range (None: DEFAULT)."""

    name: str
    parent: str
    lo: datetime | None
    hi: datetime | None


def table_of(relation: str) -> str:
    """The table a relation belongs to: `bars` for any of its partitions, else itself."""
    return "bars" if relation.startswith((DAILY, INTRADAY)) else relation


async def ensure_bar_partitions(conn: asyncpg.Connection, records: Sequence[tuple]) -> int:
    """Create the partitions these bar records (instrument_id, interval, ts, …) need, in the
    caller's transaction; returns how many were created (0 once they exist).

    One round trip per batch: the first and last `ts` of each interval are sent, and every
    month between them gets its partition (the bars of one batch are one span of time).
    """
    spans: dict[str, tuple[datetime, datetime]] = {}
    by_interval = operator.itemgetter(1)
    intervals = set(map(by_interval, records))
    if len(intervals) == 1:
        stamps = list(map(operator.itemgetter(2), records))
        spans[intervals.pop()] = (min(stamps), max(stamps))
    else:
        for record in records:
            iv, ts = record[1], record[2]
            lo, hi = spans.get(iv, (ts, ts))
            spans[iv] = (min(lo, ts), max(hi, ts))
    names = list(spans)
    return await conn.fetchval(
        _ENSURE, names, [spans[n][0] for n in names], [spans[n][1] for n in names]
    )


async def prepare_ahead(conn: asyncpg.Connection, now: datetime, days: int = 35) -> int:
    """Create the partitions the next `days` need (this month and the next; next year's
    daily one in December), so writers seldom create one; returns how many it created."""
    ahead = now + timedelta(days=days)
    return await conn.fetchval(_ENSURE, ["1d", "1m"], [now, now], [ahead, ahead])


async def bar_partitions(db: Db, parents: Sequence[str] = (DAILY, INTRADAY)) -> list[BarPartition]:
    """The leaf partitions under these parents, oldest first, each DEFAULT last."""
    rows = await db.fetch(_PARTITIONS, list(parents))
    return [BarPartition(**dict(r)) for r in rows]


async def partition_rows(db: Db, partition: BarPartition) -> int:
    """How many bars one partition holds."""
    return await db.fetchval(f'SELECT count(*) FROM "{partition.name}"')


async def drop_partition(conn: asyncpg.Connection, partition: BarPartition, wait_s: float) -> bool:
    """Drop one leaf partition (its rows go with it), waiting at most `wait_s` for its lock;
    False (nothing dropped) if readers held it that long."""
    if partition.lo is None:
        raise ValueError(f"{partition.name}: a DEFAULT partition is never dropped")
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = '{int(wait_s * 1000)}ms'")
            await conn.execute(f'DROP TABLE IF EXISTS "{partition.name}"')
    except asyncpg.LockNotAvailableError:
        return False
    return True

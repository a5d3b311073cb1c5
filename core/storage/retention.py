"""Retention: what is past each table's retention goes, in bounded batches.

Each batch is its own short transaction (at most `BATCH_ROWS` rows locked), so a sweep never
holds a big lock, and a sweep cut short by a crash leaves whole batches done: running it
again finishes the job (every sweep is idempotent). What is never touched: daily bars,
instruments, running job runs and the newest run of each kind, and the bodies of articles
a report cites. Intraday bars go as whole monthly partitions when a partition is entirely
older than the cutoff; the rest (the partition the cutoff falls in) row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from core.storage import partitions
from core.storage.db import Db

BATCH_ROWS = 5000
DROP_LOCK_WAIT_S = 5.0
"""How long dropping a partition waits for readers before leaving its rows to the batches."""

INTRADAY_BARS, ARTICLE_BODIES, LLM_USAGE, JOB_RUNS = (
    "intraday_bars", "article_bodies", "llm_usage", "job_runs"
)  # fmt: skip
STORY_INDEX, API_DAILY = "story_index", "api_daily"

# Each policy: the rows past $1 (count), and one batch of at most $2 of them (returns the
# rows it changed).
_DUE = {
    INTRADAY_BARS: "FROM bars_intraday WHERE ts < $1",
    ARTICLE_BODIES: """
        FROM articles a WHERE a.published_at < $1 AND a.summary IS NOT NULL
        AND a.fingerprint NOT IN (
            SELECT c.fingerprint FROM reports r,
                   jsonb_array_elements_text(r.citations) AS c(fingerprint)
            WHERE jsonb_typeof(r.citations) = 'array' AND c.fingerprint IS NOT NULL)""",
    LLM_USAGE: "FROM llm_usage WHERE at < $1",
    # The story matcher's index (MinHash signatures and LSH bands, core/stories.py): a new
    # article only meets stories published within a day of it, so old entries only serve
    # late backfills of old news. The articles keep their story ids.
    STORY_INDEX: "FROM story_signatures s WHERE s.published_at < $1",
    API_DAILY: "FROM api_daily WHERE day < ($1 AT TIME ZONE 'UTC')::date",
    JOB_RUNS: """
        FROM job_runs j WHERE coalesce(j.finished_at, j.started_at) < $1
        AND j.status NOT IN ('pending', 'running')
        AND j.id NOT IN (
            SELECT DISTINCT ON (kind) id FROM job_runs ORDER BY kind, started_at DESC)""",
}
_BATCH = {
    INTRADAY_BARS: f"""
        DELETE FROM bars_intraday WHERE (instrument_id, interval, ts) IN (
            SELECT instrument_id, interval, ts {_DUE[INTRADAY_BARS]} LIMIT $2)""",
    ARTICLE_BODIES: f"""
        UPDATE articles SET summary = NULL WHERE fingerprint IN (
            SELECT a.fingerprint {_DUE[ARTICLE_BODIES]} LIMIT $2)""",
    LLM_USAGE: f"DELETE FROM llm_usage WHERE id IN (SELECT id {_DUE[LLM_USAGE]} LIMIT $2)",
    # The bands go with their signatures; the count returned is the signatures'.
    STORY_INDEX: f"""
        WITH doomed AS MATERIALIZED (SELECT s.fingerprint {_DUE[STORY_INDEX]} LIMIT $2),
             bands AS (DELETE FROM story_bands WHERE fingerprint IN (SELECT * FROM doomed))
        DELETE FROM story_signatures WHERE fingerprint IN (SELECT * FROM doomed)""",
    API_DAILY: f"""
        DELETE FROM api_daily WHERE (day, route) IN (
            SELECT day, route {_DUE[API_DAILY]} LIMIT $2)""",
    JOB_RUNS: f"DELETE FROM job_runs WHERE id IN (SELECT j.id {_DUE[JOB_RUNS]} LIMIT $2)",
}
POLICIES = tuple(_DUE)


@dataclass(frozen=True, slots=True)
class Sweep:
    """What one policy did (or, in a dry run, would do): rows deleted or emptied, of which
    in dropped partitions, and the cutoff (None: kept forever, nothing looked at)."""

    policy: str
    cutoff: datetime | None
    rows: int = 0
    partitions_dropped: int = 0


async def due(db: Db, policy: str, cutoff: datetime) -> int:
    """How many rows this policy would change at this cutoff."""
    return await db.fetchval(f"SELECT count(*) {_DUE[policy]}", cutoff)


async def _batches(conn: asyncpg.Connection, policy: str, cutoff: datetime, rows: int) -> int:
    done = 0
    while True:
        status = await conn.execute(_BATCH[policy], cutoff, rows)
        changed = int(status.rsplit(" ", 1)[1])
        done += changed
        if changed < rows:
            return done


async def _drop_old_intraday(
    conn: asyncpg.Connection, cutoff: datetime, dry_run: bool
) -> tuple[int, int]:
    """Drop the intraday partitions wholly before `cutoff`: (partitions, rows they held)."""
    dropped = rows = 0
    for part in await partitions.bar_partitions(conn, [partitions.INTRADAY]):
        if part.hi is None or part.hi > cutoff:
            continue
        held = await partitions.partition_rows(conn, part)
        if dry_run or await partitions.drop_partition(conn, part, DROP_LOCK_WAIT_S):
            dropped, rows = dropped + 1, rows + held
    return dropped, rows


async def sweep(
    conn: asyncpg.Connection,
    policy: str,
    cutoff: datetime | None,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> Sweep:
    """Apply one policy at `cutoff` (None: keep forever, do nothing); with `dry_run`, count."""
    if policy not in _DUE:
        raise ValueError(f"unknown retention policy {policy!r}; known: {', '.join(POLICIES)}")
    if cutoff is None:
        return Sweep(policy, None)
    if conn.is_in_transaction():
        raise RuntimeError("retention runs its own short transactions: call it outside one")
    dropped = in_parts = 0
    if policy == INTRADAY_BARS:
        dropped, in_parts = await _drop_old_intraday(conn, cutoff, dry_run)
    if dry_run:
        rest = await due(conn, policy, cutoff) - in_parts
    else:
        rest = await _batches(conn, policy, cutoff, batch_rows)
    return Sweep(policy, cutoff, in_parts + rest, dropped)

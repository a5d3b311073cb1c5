"""A run's progress while it goes on: the latest `job.progress` payload on its `job_runs`
row (migration 0013), and the runs still going with it, for `GET /api/v1/status`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.storage.db import Db

ACTIVE_FOR = timedelta(hours=12)
"""A run still `running` this long after it started (or last reported progress) is taken
for one whose driver died without closing it, and is not listed as active."""


async def record_progress(db: Db, run_id: uuid.UUID | str, progress: dict[str, Any]) -> None:
    """Store a run's latest progress (`{"done", "total", "counts", "last", ...}`), as its
    `job.progress` event carries it; readers see it at once."""
    await db.execute(
        "UPDATE job_runs SET progress = $2, progress_at = now() WHERE id = $1",
        uuid.UUID(str(run_id)),
        progress,
    )


@dataclass(frozen=True, slots=True)
class ActiveRun:
    """A run pending or running: its stored counts and its latest progress, if any."""

    id: uuid.UUID
    kind: str
    trace_id: str
    status: str
    started_at: datetime
    counts: dict[str, Any]
    progress: dict[str, Any] | None
    progress_at: datetime | None


_ACTIVE = """
    SELECT id, kind, trace_id, status, started_at, counts, progress, progress_at
    FROM job_runs
    WHERE status IN ('pending', 'running')
      AND greatest(started_at, progress_at) >= now() - $1::interval
    ORDER BY started_at DESC
    LIMIT $2"""


async def active_runs(
    db: Db, limit: int = 20, active_for: timedelta = ACTIVE_FOR
) -> list[ActiveRun]:
    """Runs pending or running, newest first, with their stored counts and progress."""
    return [ActiveRun(**dict(r)) for r in await db.fetch(_ACTIVE, active_for, limit)]


async def instruments_with_prices(db: Db) -> tuple[int, int]:
    """(instruments on the watchlist, how many of them have at least one stored bar)."""
    row = await db.fetchrow(
        "SELECT count(*) AS total, count(*) FILTER (WHERE EXISTS ("
        "SELECT 1 FROM bars b WHERE b.instrument_id = i.id)) AS priced FROM instruments i"
    )
    return row["total"], row["priced"]

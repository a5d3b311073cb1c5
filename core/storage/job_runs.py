"""`job_runs`: one row per job run, with its trace id, parameters, status and counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.storage.db import Db


async def start_run(
    conn: asyncpg.Connection, kind: str, trace_id: str, params: dict[str, Any]
) -> uuid.UUID:
    """Record a run as `running`; return its id."""
    return await conn.fetchval(
        "INSERT INTO job_runs (kind, trace_id, params, status) VALUES ($1, $2, $3, 'running') "
        "RETURNING id",
        kind,
        trace_id,
        params,
    )


async def update_counts(conn: asyncpg.Connection, run_id: uuid.UUID, counts: dict) -> None:
    """Progress so far (readers see it while the run goes on)."""
    await conn.execute("UPDATE job_runs SET counts = $2 WHERE id = $1", run_id, counts)


async def finish_run(
    conn: asyncpg.Connection,
    run_id: uuid.UUID,
    status: str,
    counts: dict[str, Any],
    error: str | None = None,
) -> None:
    """Close a run as `succeeded`, `degraded` or `failed`, with its final counts."""
    await conn.execute(
        "UPDATE job_runs SET status = $2, counts = $3, error = $4, finished_at = now() "
        "WHERE id = $1",
        run_id,
        status,
        counts,
        error,
    )


@dataclass(frozen=True, slots=True)
class JobRun:
    """A `job_runs` row: the run's parameters, status, counts and latest progress."""

    id: uuid.UUID
    kind: str
    trace_id: str
    params: dict[str, Any]
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    error: str | None
    progress: dict[str, Any] | None
    progress_at: datetime | None


@dataclass(frozen=True, slots=True)
class RunTally:
    """Runs of a kind in a status: how many started in the last 24 h, and how many seconds
    ago the oldest of them (or of the unfinished ones) started."""

    kind: str
    status: str
    n: int
    age_s: float


_RUN = (
    "SELECT id, kind, trace_id, params, status, started_at, finished_at, counts, error, "
    "progress, progress_at FROM job_runs"
)
_TALLIES = """
    SELECT kind, status, count(*) FILTER (WHERE started_at > now() - interval '24 hours') AS n,
           extract(epoch FROM now() - min(started_at)) AS age FROM job_runs
    WHERE started_at > now() - interval '24 hours' OR status IN ('pending', 'running')
    GROUP BY 1, 2"""


async def recent_runs(db: Db, kind: str | None, limit: int) -> list[JobRun]:
    """The newest `limit` runs (of `kind`, when given), newest first."""
    rows = await db.fetch(
        f"{_RUN} WHERE ($1::text IS NULL OR kind = $1) ORDER BY started_at DESC LIMIT $2",
        kind,
        limit,
    )
    return [JobRun(**dict(r)) for r in rows]


async def run_by_id(db: Db, run_id: uuid.UUID) -> JobRun | None:
    """The run with this id, or None."""
    row = await db.fetchrow(f"{_RUN} WHERE id = $1", run_id)
    return None if row is None else JobRun(**dict(row))


async def latest_run_of_trace(db: Db, trace_id: str | None) -> JobRun | None:
    """The newest run recorded under `trace_id`, or None."""
    row = await db.fetchrow(
        f"{_RUN} WHERE trace_id = $1 ORDER BY started_at DESC LIMIT 1", trace_id
    )
    return None if row is None else JobRun(**dict(row))


async def run_tallies(db: Db) -> list[RunTally]:
    """Per kind and status: runs started in the last 24 h, and the age of the oldest of
    them (pending and running ones however old)."""
    rows = await db.fetch(_TALLIES)
    return [RunTally(r["kind"], r["status"], r["n"], float(r["age"])) for r in rows]

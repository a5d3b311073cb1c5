"""`job_runs`: one row per job run, with its trace id, parameters, status and counts."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg


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

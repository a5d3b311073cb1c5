"""`schedule_runs`: one row per schedule slot, saying what the scheduler did with it."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def last_submitted(conn: asyncpg.Connection, schedule: str) -> str | None:
    """The submission id of `schedule`'s newest submitted slot, if any."""
    return await conn.fetchval(
        """SELECT submission_id FROM schedule_runs
           WHERE schedule = $1 AND status = 'submitted' ORDER BY slot DESC LIMIT 1""",
        schedule,
    )


async def record_run(
    conn: asyncpg.Connection,
    schedule: str,
    slot: datetime,
    submission_id: str,
    status: str,
    detail: str | None,
) -> bool:
    """Record what happened to a slot; False if it was already recorded (the first stays)."""
    done = await conn.execute(
        """INSERT INTO schedule_runs (schedule, slot, submission_id, status, detail)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (schedule, slot) DO NOTHING""",
        schedule,
        slot,
        submission_id,
        status,
        detail,
    )
    return done == "INSERT 0 1"

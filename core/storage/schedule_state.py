"""`schedule_state`: where each schedule is (last slot handled, next due) and the
scheduler's own heartbeat row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """One row: a schedule's last handled slot and next due instant, or the heartbeat row."""

    schedule: str
    last_slot: datetime | None
    next_due: datetime | None
    heartbeat_at: datetime


_COLUMNS = "schedule, last_slot, next_due, heartbeat_at"


def _state(row: asyncpg.Record) -> ScheduleState:
    return ScheduleState(row["schedule"], row["last_slot"], row["next_due"], row["heartbeat_at"])


async def beat(conn: asyncpg.Connection, row: str) -> None:
    """Stamp `row`'s heartbeat with the database's now (its slots are left as they are)."""
    await conn.execute(
        """INSERT INTO schedule_state (schedule, heartbeat_at) VALUES ($1, now())
           ON CONFLICT (schedule) DO UPDATE SET heartbeat_at = now()""",
        row,
    )


async def get_state(conn: asyncpg.Connection, schedule: str) -> ScheduleState | None:
    """The row of `schedule`, or None if the scheduler never saw it."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM schedule_state WHERE schedule = $1", schedule
    )
    return None if row is None else _state(row)


async def list_states(conn: asyncpg.Connection) -> list[ScheduleState]:
    """Every row, the heartbeat row included, by schedule name."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM schedule_state ORDER BY schedule")
    return [_state(r) for r in rows]


async def save_state(
    conn: asyncpg.Connection, schedule: str, last_slot: datetime, next_due: datetime | None
) -> None:
    """Record `schedule`'s last handled slot and next due instant (None keeps the known one)."""
    await conn.execute(
        """INSERT INTO schedule_state (schedule, last_slot, next_due, heartbeat_at)
           VALUES ($1, $2, $3, now())
           ON CONFLICT (schedule) DO UPDATE SET last_slot = EXCLUDED.last_slot,
               next_due = COALESCE(EXCLUDED.next_due, schedule_state.next_due),
               heartbeat_at = now()""",
        schedule,
        last_slot,
        next_due,
    )

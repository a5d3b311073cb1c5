"""The daily LLM budget in Postgres: reserve a call's bound first, settle its real cost after.

A reservation is one conditional UPDATE on the day's row: Postgres serialises concurrent
updates of a row and re-checks the condition after waiting, so however many jobs race for
the last cents, `spent + reserved` never passes the limit. Settling replaces the
reservation by the real cost, which is at most the reservation (see `core.llm.cost`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from core.errors import BudgetExceeded
from core.llm.cost import MICRO

_ENSURE_DAY = """
    INSERT INTO llm_budget (day, limit_micro) VALUES ($1, $2)
    ON CONFLICT (day) DO UPDATE SET limit_micro = EXCLUDED.limit_micro
    WHERE llm_budget.limit_micro <> EXCLUDED.limit_micro"""
_RESERVE = """
    UPDATE llm_budget SET reserved_micro = reserved_micro + $2
    WHERE day = $1 AND spent_micro + reserved_micro + $2 <= limit_micro
    RETURNING limit_micro - spent_micro - reserved_micro"""
_SETTLE = """
    UPDATE llm_budget SET reserved_micro = reserved_micro - $2, spent_micro = spent_micro + $3
    WHERE day = $1"""


@dataclass(frozen=True, slots=True)
class Reservation:
    """Micro-dollars held on `day` for one call."""

    day: date
    micro: int


def today() -> date:
    """The budget day (UTC)."""
    return datetime.now(UTC).date()


class DailyBudget:
    """`limit_usd` per UTC day, shared by every process using the same database."""

    def __init__(self, pool: asyncpg.Pool, limit_usd: float) -> None:
        self.pool = pool
        self.limit_micro = round(limit_usd * MICRO)

    async def reserve(self, micro: int, day: date | None = None) -> Reservation:
        """Hold `micro` for a call, or raise `BudgetExceeded` (nothing is held then)."""
        day = day or today()
        async with self.pool.acquire() as conn:
            await conn.execute(_ENSURE_DAY, day, self.limit_micro)
            left = await conn.fetchval(_RESERVE, day, micro)
        if left is None:
            raise BudgetExceeded(
                f"daily LLM budget of ${self.limit_micro / MICRO:.2f} for {day} is spent "
                f"(a call needing up to ${micro / MICRO:.6f} was refused)"
            )
        return Reservation(day, micro)

    async def settle(self, reservation: Reservation, spent_micro: int) -> None:
        """Replace the reservation by the call's real cost (0 when nothing was charged)."""
        async with self.pool.acquire() as conn:
            await conn.execute(_SETTLE, reservation.day, reservation.micro, spent_micro)

    async def state(self, day: date | None = None) -> dict[str, float]:
        """Limit, reserved, spent and left in USD for `day`."""
        day = day or today()
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT limit_micro, reserved_micro, spent_micro FROM llm_budget WHERE day = $1",
                day,
            )
        limit, reserved, spent = (
            (row["limit_micro"], row["reserved_micro"], row["spent_micro"])
            if row
            else (self.limit_micro, 0, 0)
        )
        return {
            "limit_usd": limit / MICRO,
            "reserved_usd": reserved / MICRO,
            "spent_usd": spent / MICRO,
            "left_usd": (limit - reserved - spent) / MICRO,
        }


async def spent_by_run(conn: asyncpg.Connection, trace_id: str, run_id: Any) -> tuple[int, float]:
    """Calls that cost money under `trace_id` since job run `run_id` started (whatever
    became of their answers) and their cost in USD, as `llm_usage` recorded them."""
    row = await conn.fetchrow(
        """SELECT count(*) AS calls, coalesce(sum(cost_micro), 0) AS micro FROM llm_usage
           WHERE trace_id = $1 AND cost_micro > 0
             AND at >= (SELECT started_at FROM job_runs WHERE id = $2)""",
        trace_id, run_id,
    )  # fmt: skip
    return row["calls"], int(row["micro"]) / MICRO

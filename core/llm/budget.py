"""The daily LLM budget in Postgres: reserve a call's bound first, settle its real cost after.

A reservation is one conditional UPDATE on the day's row: Postgres serialises concurrent
updates of a row and re-checks the condition after waiting, so however many jobs race for
the last cents, `spent + reserved` never passes the limit. Settling replaces the
reservation by the real cost, which is at most the reservation (see `core.llm.cost`).

A call made for an API key (chat) also holds its bound on the key's row of the day in
`chat_budget`: both conditional UPDATEs run in one transaction, key row first, so a call
passes both limits or holds nothing, and settling moves both rows at once.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
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
_ENSURE_KEY_DAY = """
    INSERT INTO chat_budget (key_id, day, limit_micro)
    SELECT id, $2, coalesce(chat_micro_per_day, $3) FROM api_keys WHERE id = $1
    ON CONFLICT (key_id, day) DO UPDATE SET limit_micro = EXCLUDED.limit_micro
    WHERE chat_budget.limit_micro <> EXCLUDED.limit_micro"""
_RESERVE_KEY = """
    UPDATE chat_budget SET reserved_micro = reserved_micro + $3
    WHERE key_id = $1 AND day = $2 AND spent_micro + reserved_micro + $3 <= limit_micro
    RETURNING limit_micro"""
_SETTLE_KEY = """
    UPDATE chat_budget SET reserved_micro = reserved_micro - $3, spent_micro = spent_micro + $4
    WHERE key_id = $1 AND day = $2"""
_KEY_STATE = """
    SELECT coalesce(k.chat_micro_per_day, $3) AS limit_micro,
           coalesce(b.reserved_micro, 0) AS reserved_micro,
           coalesce(b.spent_micro, 0) AS spent_micro
    FROM api_keys k LEFT JOIN chat_budget b ON b.key_id = k.id AND b.day = $2
    WHERE k.id = $1"""


class QuotaExceeded(BudgetExceeded):
    """The key's daily chat quota cannot hold the call; nothing was sent. `retry_after` is
    the seconds until the UTC day rolls over."""

    def __init__(
        self,
        message: str,
        endpoint: str | None = None,
        retry_after: float | None = None,
        raw: str | None = None,
    ) -> None:
        if retry_after is None:
            retry_after = math.ceil((next_day_start() - datetime.now(UTC)).total_seconds())
        super().__init__(message, endpoint, retry_after, raw)


@dataclass(frozen=True, slots=True)
class Quota:
    """Whose daily quota a call also spends: an API key's, `default_micro` a day unless the
    key has its own (`api_keys.chat_micro_per_day`)."""

    key_id: uuid.UUID
    default_micro: int

    @classmethod
    def usd(cls, key_id: uuid.UUID | str, default_usd: float) -> Quota:
        """The quota of `key_id` with a default in USD."""
        return cls(uuid.UUID(str(key_id)), round(default_usd * MICRO))


@dataclass(frozen=True, slots=True)
class Reservation:
    """Micro-dollars held on `day` for one call (and on its key's row, with `key_id`)."""

    day: date
    micro: int
    key_id: uuid.UUID | None = None


def today() -> date:
    """The budget day (UTC)."""
    return datetime.now(UTC).date()


def next_day_start() -> datetime:
    """When the budget day rolls over: the next UTC midnight."""
    return datetime.combine(today() + timedelta(days=1), time(), UTC)


class DailyBudget:
    """`limit_usd` per UTC day, shared by every process using the same database."""

    def __init__(self, pool: asyncpg.Pool, limit_usd: float) -> None:
        self.pool = pool
        self.limit_micro = round(limit_usd * MICRO)

    async def reserve(
        self, micro: int, day: date | None = None, quota: Quota | None = None
    ) -> Reservation:
        """Hold `micro` for a call, or raise `BudgetExceeded` (`QuotaExceeded` when the
        key's quota refused it); nothing is held then."""
        day = day or today()
        async with self.pool.acquire() as conn:
            await conn.execute(_ENSURE_DAY, day, self.limit_micro)
            if quota is None:
                left = await conn.fetchval(_RESERVE, day, micro)
            else:
                await conn.execute(_ENSURE_KEY_DAY, quota.key_id, day, quota.default_micro)
                async with conn.transaction():
                    key_limit = await conn.fetchval(_RESERVE_KEY, quota.key_id, day, micro)
                    if key_limit is None:
                        raise QuotaExceeded(await self._quota_refusal(conn, quota, day, micro))
                    left = await conn.fetchval(_RESERVE, day, micro)
                    if left is None:
                        raise self._refusal(day, micro)  # rolls the key's hold back too
        if left is None:
            raise self._refusal(day, micro)
        return Reservation(day, micro, quota.key_id if quota else None)

    def _refusal(self, day: date, micro: int) -> BudgetExceeded:
        return BudgetExceeded(
            f"daily LLM budget of ${self.limit_micro / MICRO:.2f} for {day} is spent "
            f"(a call needing up to ${micro / MICRO:.6f} was refused)"
        )

    @staticmethod
    async def _quota_refusal(conn: asyncpg.Connection, quota: Quota, day: date, micro: int) -> str:
        limit = await conn.fetchval(
            "SELECT limit_micro FROM chat_budget WHERE key_id = $1 AND day = $2",
            quota.key_id, day,
        )  # fmt: skip
        return (
            f"this key's daily chat quota of ${(limit or 0) / MICRO:.2f} for {day} is spent "
            f"(a call needing up to ${micro / MICRO:.6f} was refused)"
        )

    async def settle(self, reservation: Reservation, spent_micro: int) -> None:
        """Replace the reservation by the call's real cost (0 when nothing was charged)."""
        r = reservation
        async with self.pool.acquire() as conn:
            if r.key_id is None:
                await conn.execute(_SETTLE, r.day, r.micro, spent_micro)
                return
            async with conn.transaction():
                await conn.execute(_SETTLE_KEY, r.key_id, r.day, r.micro, spent_micro)
                await conn.execute(_SETTLE, r.day, r.micro, spent_micro)

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


async def quota_state(
    conn: asyncpg.Connection, quota: Quota, day: date | None = None
) -> dict[str, float] | None:
    """The key's chat limit (its own, else the default), reserved, spent and left in USD on
    `day`; None for an unknown key."""
    row = await conn.fetchrow(_KEY_STATE, quota.key_id, day or today(), quota.default_micro)
    if row is None:
        return None
    limit, reserved, spent = row["limit_micro"], row["reserved_micro"], row["spent_micro"]
    return {
        "limit_usd": limit / MICRO,
        "reserved_usd": reserved / MICRO,
        "spent_usd": spent / MICRO,
        "left_usd": max(0, limit - reserved - spent) / MICRO,
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

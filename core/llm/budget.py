"""The daily LLM budget in Postgres: reserve a call's bound first, settle its real cost after.

A reservation is one conditional UPDATE on the day's row: Postgres serialises concurrent
updates of a row and re-checks the condition after waiting, so however many jobs race for
the last cents, `spent + reserved` never passes the limit. Settling replaces the
reservation by the real cost, which is at most the reservation (see `core.llm.cost`).

A call made for an API key (chat) also holds its bound on the key's row of the day in
`chat_budget`: both conditional UPDATEs run in one transaction, key row first, so a call
passes both limits or holds nothing, and settling moves both rows at once. The rows are
read and written through `core.storage.llm_budget`.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypedDict

import asyncpg

from core.errors import BudgetExceeded, QuotaExceeded
from core.llm.cost import MICRO
from core.storage import llm_budget as ledger
from core.storage import llm_usage
from core.storage.llm_budget import BudgetRow


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


def seconds_to_next_day() -> int:
    """Whole seconds until the budget day rolls over (at least 1)."""
    return math.ceil((next_day_start() - datetime.now(UTC)).total_seconds())


class BudgetState(TypedDict):
    """A limit and what is held, spent and left of it, in USD."""

    limit_usd: float
    reserved_usd: float
    spent_usd: float
    left_usd: float


def _usd(row: BudgetRow, left_micro: int) -> BudgetState:
    return {
        "limit_usd": row.limit_micro / MICRO,
        "reserved_usd": row.reserved_micro / MICRO,
        "spent_usd": row.spent_micro / MICRO,
        "left_usd": left_micro / MICRO,
    }


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
            await ledger.ensure_day(conn, day, self.limit_micro)
            if quota is None:
                left = await ledger.reserve_day(conn, day, micro)
            else:
                await ledger.ensure_key_day(conn, quota.key_id, day, quota.default_micro)
                async with conn.transaction():
                    if await ledger.reserve_key(conn, quota.key_id, day, micro) is None:
                        message = await self._quota_refusal(conn, quota, day, micro)
                        raise QuotaExceeded(message, retry_after=seconds_to_next_day())
                    left = await ledger.reserve_day(conn, day, micro)
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
        limit = await ledger.key_limit(conn, quota.key_id, day)
        return (
            f"this key's daily chat quota of ${(limit or 0) / MICRO:.2f} for {day} is spent "
            f"(a call needing up to ${micro / MICRO:.6f} was refused)"
        )

    async def settle(self, reservation: Reservation, spent_micro: int) -> None:
        """Replace the reservation by the call's real cost (0 when nothing was charged)."""
        r = reservation
        async with self.pool.acquire() as conn:
            if r.key_id is None:
                await ledger.settle_day(conn, r.day, r.micro, spent_micro)
                return
            async with conn.transaction():
                await ledger.settle_key(conn, r.key_id, r.day, r.micro, spent_micro)
                await ledger.settle_day(conn, r.day, r.micro, spent_micro)

    async def state(self, day: date | None = None) -> BudgetState:
        """Limit, reserved, spent and left in USD for `day`."""
        row = await ledger.day_row(self.pool, day or today())
        row = row or BudgetRow(self.limit_micro, 0, 0)
        return _usd(row, row.limit_micro - row.reserved_micro - row.spent_micro)


async def quota_state(
    conn: asyncpg.Connection, quota: Quota, day: date | None = None
) -> BudgetState | None:
    """The key's chat limit (its own, else the default), reserved, spent and left in USD on
    `day`; None for an unknown key."""
    row = await ledger.key_state(conn, quota.key_id, day or today(), quota.default_micro)
    if row is None:
        return None
    return _usd(row, max(0, row.limit_micro - row.reserved_micro - row.spent_micro))


async def spent_by_run(conn: asyncpg.Connection, trace_id: str, run_id: Any) -> tuple[int, float]:
    """Calls that cost money under `trace_id` since job run `run_id` started (whatever
    became of their answers) and their cost in USD, as `llm_usage` recorded them."""
    spent = await llm_usage.spent_by_run(conn, trace_id, run_id)
    return spent.calls, spent.micro / MICRO

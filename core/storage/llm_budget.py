"""The LLM spend ledger by day: `llm_budget` (the day's budget) and `chat_budget` (each API
key's chat quota for the day), in micro-dollars.

A hold is one conditional UPDATE: Postgres serialises concurrent updates of a row and
re-checks the condition after waiting, so `spent + reserved` never passes the limit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import asyncpg

_ENSURE_DAY = """
    INSERT INTO llm_budget (day, limit_micro) VALUES ($1, $2)
    ON CONFLICT (day) DO UPDATE SET limit_micro = EXCLUDED.limit_micro
    WHERE llm_budget.limit_micro <> EXCLUDED.limit_micro"""
_RESERVE_DAY = """
    UPDATE llm_budget SET reserved_micro = reserved_micro + $2
    WHERE day = $1 AND spent_micro + reserved_micro + $2 <= limit_micro
    RETURNING limit_micro - spent_micro - reserved_micro"""
_SETTLE_DAY = """
    UPDATE llm_budget SET reserved_micro = reserved_micro - $2, spent_micro = spent_micro + $3
    WHERE day = $1"""
_DAY = "SELECT limit_micro, reserved_micro, spent_micro FROM llm_budget WHERE day = $1"
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
_KEY_LIMIT = "SELECT limit_micro FROM chat_budget WHERE key_id = $1 AND day = $2"
_KEY_STATE = """
    SELECT coalesce(k.chat_micro_per_day, $3) AS limit_micro,
           coalesce(b.reserved_micro, 0) AS reserved_micro,
           coalesce(b.spent_micro, 0) AS spent_micro
    FROM api_keys k LEFT JOIN chat_budget b ON b.key_id = k.id AND b.day = $2
    WHERE k.id = $1"""


@dataclass(frozen=True, slots=True)
class BudgetRow:
    """A day's limit, what calls in flight hold, and what was spent (micro-dollars)."""

    limit_micro: int
    reserved_micro: int
    spent_micro: int


def _row(record: asyncpg.Record | None) -> BudgetRow | None:
    if record is None:
        return None
    return BudgetRow(record["limit_micro"], record["reserved_micro"], record["spent_micro"])


async def ensure_day(conn: asyncpg.Connection, day: date, limit_micro: int) -> None:
    """Make the day's row, or set its limit when the setting changed."""
    await conn.execute(_ENSURE_DAY, day, limit_micro)


async def reserve_day(conn: asyncpg.Connection, day: date, micro: int) -> int | None:
    """Hold `micro` on the day: what is left after it, or None (refused, nothing held)."""
    return await conn.fetchval(_RESERVE_DAY, day, micro)


async def settle_day(conn: asyncpg.Connection, day: date, reserved: int, spent: int) -> None:
    """Replace a hold of `reserved` by the `spent` cost."""
    await conn.execute(_SETTLE_DAY, day, reserved, spent)


async def day_row(db: asyncpg.Pool | asyncpg.Connection, day: date) -> BudgetRow | None:
    """The day's row, None before the day's first call."""
    return _row(await db.fetchrow(_DAY, day))


async def ensure_key_day(
    conn: asyncpg.Connection, key_id: uuid.UUID, day: date, default_micro: int
) -> None:
    """Make the key's row for the day (its own quota, else `default_micro`), or update
    its limit when the quota changed; an unknown key gets none."""
    await conn.execute(_ENSURE_KEY_DAY, key_id, day, default_micro)


async def reserve_key(
    conn: asyncpg.Connection, key_id: uuid.UUID, day: date, micro: int
) -> int | None:
    """Hold `micro` on the key's row: its limit, or None (refused, nothing held)."""
    return await conn.fetchval(_RESERVE_KEY, key_id, day, micro)


async def settle_key(
    conn: asyncpg.Connection, key_id: uuid.UUID, day: date, reserved: int, spent: int
) -> None:
    """Replace a hold of `reserved` on the key's row by the `spent` cost."""
    await conn.execute(_SETTLE_KEY, key_id, day, reserved, spent)


async def key_limit(conn: asyncpg.Connection, key_id: uuid.UUID, day: date) -> int | None:
    """The limit on the key's row for the day, None without a row."""
    return await conn.fetchval(_KEY_LIMIT, key_id, day)


async def key_state(
    conn: asyncpg.Connection, key_id: uuid.UUID, day: date, default_micro: int
) -> BudgetRow | None:
    """The key's limit (its own, else `default_micro`), held and spent on `day`, zeros
    before its first call; None for an unknown key."""
    return _row(await conn.fetchrow(_KEY_STATE, key_id, day, default_micro))

"""`llm_usage`: the ledger of LLM calls, one row per call that reached an endpoint."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

import asyncpg

_INSERT = """
    INSERT INTO llm_usage (endpoint, model, tokens_in, tokens_out, cost_micro, trace_id,
                           purpose, status, detail)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"""
_SPENT_BY_RUN = """
    SELECT count(*) AS calls, coalesce(sum(cost_micro), 0) AS micro FROM llm_usage
    WHERE trace_id = $1 AND cost_micro > 0
      AND at >= (SELECT started_at FROM job_runs WHERE id = $2)"""


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One ledger row: where the call went, its tokens and cost, and what became of it
    (`status` is `ok`, `invalid` or `error`)."""

    endpoint: str
    model: str
    tokens_in: int
    tokens_out: int
    cost_micro: int
    trace_id: str | None
    purpose: str
    status: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class RunSpend:
    """Calls that cost money and what they cost, in micro-dollars."""

    calls: int
    micro: int


async def insert(db: asyncpg.Pool | asyncpg.Connection, row: UsageRow) -> None:
    """Add one row to the ledger."""
    await db.execute(_INSERT, *astuple(row))


async def spent_by_run(conn: asyncpg.Connection, trace_id: str, run_id: Any) -> RunSpend:
    """Paid calls under `trace_id` since job run `run_id` started, and their cost."""
    row = await conn.fetchrow(_SPENT_BY_RUN, trace_id, run_id)
    return RunSpend(row["calls"], int(row["micro"]))

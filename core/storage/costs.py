"""LLM costs as operators read them: spend per day from the `llm_usage` ledger, today's
calls by outcome and today's `llm_budget` row (the writers are `llm_usage` and
`llm_budget`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.storage.db import Db
from core.storage.llm_budget import BudgetRow


@dataclass(frozen=True, slots=True)
class DaySpend:
    """Calls to one model at one endpoint on a UTC day, their tokens and cost."""

    day: date
    model: str
    endpoint: str
    calls: int
    tokens_in: int
    tokens_out: int
    cost_micro: int


@dataclass(frozen=True, slots=True)
class CallCount:
    """Today's calls (UTC day) to one endpoint and model, for a purpose, by outcome."""

    endpoint: str
    model: str
    purpose: str
    status: str
    n: int


_SPEND = """
    SELECT (at AT TIME ZONE 'UTC')::date AS day, model, endpoint, count(*) AS calls,
           sum(tokens_in)::bigint AS tokens_in, sum(tokens_out)::bigint AS tokens_out,
           sum(cost_micro)::bigint AS cost_micro
    FROM llm_usage WHERE (at AT TIME ZONE 'UTC')::date BETWEEN $1 AND $2
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
_TODAYS_BUDGET = """
    SELECT limit_micro, spent_micro, reserved_micro FROM llm_budget
    WHERE day = (now() AT TIME ZONE 'UTC')::date"""
_CALLS_TODAY = """
    SELECT endpoint, model, purpose, status, count(*) AS n FROM llm_usage
    WHERE at >= (now() AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC'
    GROUP BY 1, 2, 3, 4"""


async def spend_by_day(db: Db, first: date, last: date) -> list[DaySpend]:
    """Spend per UTC day, model and endpoint over [first, last], in that order."""
    return [DaySpend(**dict(r)) for r in await db.fetch(_SPEND, first, last)]


async def todays_budget(db: Db) -> BudgetRow | None:
    """Today's budget row (the database's UTC day), None before today's first call."""
    row = await db.fetchrow(_TODAYS_BUDGET)
    if row is None:
        return None
    return BudgetRow(row["limit_micro"], row["reserved_micro"], row["spent_micro"])


async def calls_today(db: Db) -> list[CallCount]:
    """Today's calls (UTC day) by endpoint, model, purpose and status."""
    return [CallCount(**dict(r)) for r in await db.fetch(_CALLS_TODAY)]

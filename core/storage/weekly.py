"""The weekly report's reads over `job_runs`, `llm_budget` and the news (`articles`):
per-day tallies over a range of UTC days. LLM spend per day and model is
`costs.spend_by_day`; API traffic is `api_daily.days`; freshness `watermarks.last_advances`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.storage.db import Db


@dataclass(frozen=True, slots=True)
class JobDay:
    """Runs of one job kind started on one UTC day, and how many of them failed."""

    day: date
    kind: str
    runs: int
    failed: int


@dataclass(frozen=True, slots=True)
class BudgetDay:
    """One UTC day's LLM budget row: its limit and what was spent, in micro-dollars."""

    day: date
    limit_micro: int
    spent_micro: int


@dataclass(frozen=True, slots=True)
class NewsCount:
    """Articles about one instrument published in the range."""

    instrument_id: str
    articles: int


_JOBS = """
    SELECT (started_at AT TIME ZONE 'UTC')::date AS day, kind, count(*) AS runs,
           count(*) FILTER (WHERE status = 'failed') AS failed
    FROM job_runs
    WHERE started_at >= $1::date::timestamp AT TIME ZONE 'UTC'
      AND started_at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY 1, 2 ORDER BY 1, 2"""
_BUDGET = """
    SELECT day, limit_micro, spent_micro FROM llm_budget
    WHERE day BETWEEN $1 AND $2 ORDER BY day"""
_NEWS = """
    SELECT ai.instrument_id, count(*) AS articles
    FROM articles a JOIN article_instruments ai USING (fingerprint)
    WHERE a.published_at >= $1::date::timestamp AT TIME ZONE 'UTC'
      AND a.published_at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $3"""


async def job_days(db: Db, first: date, last: date) -> list[JobDay]:
    """Per UTC day in [first, last] and job kind: runs started and how many failed."""
    return [JobDay(**dict(r)) for r in await db.fetch(_JOBS, first, last)]


async def budget_days(db: Db, first: date, last: date) -> list[BudgetDay]:
    """The `llm_budget` rows of the days in [first, last] (days without a call have none)."""
    return [BudgetDay(**dict(r)) for r in await db.fetch(_BUDGET, first, last)]


async def top_news(db: Db, first: date, last: date, limit: int) -> list[NewsCount]:
    """The `limit` instruments with the most articles published in [first, last], most
    first (ties by id)."""
    return [NewsCount(**dict(r)) for r in await db.fetch(_NEWS, first, last, limit)]

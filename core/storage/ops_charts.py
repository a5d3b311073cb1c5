"""What the Operations page's charts read: LLM spend per UTC day against that day's budget,
and the finished job runs with their durations (the writers are `llm_usage`, `llm_budget`
and `job_runs`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from core.storage.db import Db


@dataclass(frozen=True, slots=True)
class SpendDay:
    """One UTC day: LLM calls, their cost, and the day's budget (None: no row that day)."""

    day: date
    calls: int
    cost_micro: int
    limit_micro: int | None


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """A job run that ended: its kind, how, when, and how long it took."""

    id: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime
    duration_s: float


@dataclass(frozen=True, slots=True)
class KindSummary:
    """The runs of one kind that ended in a window: how many, how many failed, durations."""

    kind: str
    runs: int
    failed: int
    median_s: float
    max_s: float


# Every day of [first, last], with or without calls, so the chart shows the quiet days too.
_SPEND = """
    SELECT d.day, coalesce(u.calls, 0)::int AS calls, coalesce(u.cost_micro, 0)::bigint AS
           cost_micro, b.limit_micro
    FROM (SELECT generate_series($1::date, $2::date, interval '1 day')::date AS day) d
    LEFT JOIN (
        SELECT (at AT TIME ZONE 'UTC')::date AS day, count(*) AS calls,
               sum(cost_micro) AS cost_micro
        FROM llm_usage
        WHERE at >= $1::timestamp AT TIME ZONE 'UTC'
          AND at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'
        GROUP BY 1
    ) u ON u.day = d.day
    LEFT JOIN llm_budget b ON b.day = d.day
    ORDER BY d.day"""
_ENDED = "status IN ('succeeded', 'failed', 'cancelled') AND finished_at >= $1"
_RUNS = f"""
    SELECT id::text AS id, kind, status, started_at, finished_at,
           greatest(extract(epoch FROM finished_at - started_at), 0)::float8 AS duration_s
    FROM job_runs WHERE {_ENDED}
    ORDER BY finished_at DESC LIMIT $2"""
_KINDS = f"""
    SELECT kind, count(*)::int AS runs, count(*) FILTER (WHERE status = 'failed')::int AS failed,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::float8 AS median_s,
           max(d)::float8 AS max_s
    FROM (SELECT kind, status, greatest(extract(epoch FROM finished_at - started_at), 0) AS d
          FROM job_runs WHERE {_ENDED}) r
    GROUP BY kind ORDER BY kind"""


async def spend_per_day(db: Db, first: date, last: date) -> list[SpendDay]:
    """LLM calls and cost per UTC day of [first, last] (every day), with its budget row."""
    return [SpendDay(**dict(r)) for r in await db.fetch(_SPEND, first, last)]


async def finished_runs(db: Db, since: datetime, limit: int) -> list[FinishedRun]:
    """The runs that ended at or after `since`, the latest `limit`, oldest first."""
    rows = await db.fetch(_RUNS, since, limit)
    return [FinishedRun(**dict(r)) for r in reversed(rows)]


async def runs_by_kind(db: Db, since: datetime) -> list[KindSummary]:
    """Per kind, the runs that ended at or after `since`: count, failed, median and max."""
    return [KindSummary(**dict(r)) for r in await db.fetch(_KINDS, since)]

"""The gauges of state `/metrics` shows: read from Postgres, the schedules and the Jobs API.

They cost six SQL queries and a full Ray job list, so a scrape never computes them:
`StateGauges` keeps the last computed set and, when a scrape finds it older than
`STOCKRAY_METRICS_REFRESH_S`, recomputes it in a background task while that scrape answers
with what it has. Only a replica's first scrape waits for a computation. A replica nobody
scrapes runs no queries at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from core.freshness import collection_intervals, last_success
from core.storage import backups, costs, job_runs, watermarks

log = logging.getLogger("stockray.serve")
JOBS_TIMEOUT_S = 3.0
BACKUP_KINDS: tuple[backups.Kind, ...] = ("logical", "base")


class StateGauges:
    """The state gauges of one replica, recomputed at most every `refresh_s` seconds."""

    def __init__(self, ctx: Any, refresh_s: float) -> None:
        self.ctx = ctx
        self.refresh_s = refresh_s
        self.computed_at: float | None = None  # monotonic time of the last computation
        self.computations = 0
        self._families: list[Any] = []
        self._refresh: asyncio.Task | None = None

    async def families(self) -> list[Any]:
        """The latest computed gauges; starts a background refresh when they are stale."""
        stale = self.computed_at is None or time.monotonic() - self.computed_at >= self.refresh_s
        if stale and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.get_running_loop().create_task(self._compute())
        if self.computed_at is None and self._refresh is not None:
            await asyncio.shield(self._refresh)  # a cancelled scrape leaves the refresh running
        return self._families

    async def _compute(self) -> None:
        families = schedule_families(self.ctx.settings)
        families += await _optional("Postgres", _database(self.ctx))
        families += await _optional("the Jobs API", ray_job_families(self.ctx))
        self._families, self.computed_at = families, time.monotonic()
        self.computations += 1


async def _optional(source: str, families: Awaitable[list[Any]]) -> list[Any]:
    try:
        return await families
    except Exception as exc:  # a source is down: /metrics still answers with the rest
        log.warning("metrics from %s unavailable: %s", source, type(exc).__name__)
        return []


def _gauge(
    name: str, documentation: str, labels: list[str], samples: list[tuple[list[str], float]]
) -> GaugeMetricFamily:
    """A gauge family holding `samples` (label values, value), in their order."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


async def _database(ctx: Any) -> list[Any]:
    return await database_families(await ctx.pool())


async def database_families(pool: Any) -> list[Any]:
    """Gauges of state that lives in Postgres, the same whichever replica is asked.

    Short-lived job drivers exit before Ray would export their metrics, so job runs,
    collection freshness and LLM spend are read from the rows the jobs commit.
    """
    fresh = _gauge(
        "stockray_collection_last_success_timestamp_seconds",
        "When an instrument's data of a capability last advanced (Unix time).",
        ["instrument", "capability"],
        [([i, c], at) for (i, c), at in last_success(await watermarks.last_advances(pool)).items()],
    )
    tallies = await job_runs.run_tallies(pool)
    runs = _gauge(
        "stockray_job_runs",
        "Job runs started in the last 24 h.",
        ["kind", "status"],
        [([t.kind, t.status], t.n) for t in tallies],
    )
    oldest = _gauge(
        "stockray_job_unfinished_oldest_seconds",
        "Age of the oldest pending or running job run.",
        ["kind", "status"],
        [([t.kind, t.status], t.age_s) for t in tallies if t.status in ("pending", "running")],
    )
    budget = await costs.todays_budget(pool)
    limit = _gauge(
        "stockray_llm_budget_usd",
        "Today's LLM budget (UTC day).",
        [],
        [([], budget.limit_micro / 1e6)] if budget is not None else [],
    )
    spent = _gauge(
        "stockray_llm_spent_usd",
        "Today's LLM spend, reserved calls included (UTC day).",
        [],
        [([], (budget.spent_micro + budget.reserved_micro) / 1e6)] if budget is not None else [],
    )
    calls = _gauge(
        "stockray_llm_calls_today",
        "LLM calls today (UTC day) by endpoint, model, purpose and status.",
        ["endpoint", "model", "purpose", "status"],
        [([c.endpoint, c.model, c.purpose, c.status], c.n) for c in await costs.calls_today(pool)],
    )
    found = await backups.newest_each(pool)
    newest = [(kind, found.get(kind)) for kind in BACKUP_KINDS]
    backed_up = _gauge(
        "stockray_backup_last_timestamp_seconds",
        "When the newest backup of each kind (logical, base) finished (Unix time; 0 = never).",
        ["kind"],
        [([kind], b.finished_at.timestamp() if b else 0.0) for kind, b in newest],
    )
    return [fresh, runs, oldest, limit, spent, calls, backed_up]


def schedule_families(settings: Any) -> list[Any]:
    """`stockray_collection_interval_seconds`: how often each instrument's data is due
    (`core.freshness.collection_intervals`, which `stockray doctor` grades with too)."""
    return [
        _gauge(
            "stockray_collection_interval_seconds",
            "Longest expected gap between collections of an instrument's capability.",
            ["instrument", "capability"],
            [([i, c], gap) for (i, c), gap in collection_intervals(settings, time.time()).items()],
        )
    ]


async def ray_job_families(ctx: Any) -> list[Any]:
    """Ray jobs by status, and how long the oldest pending one has waited."""
    jobs = asyncio.to_thread(lambda: ctx.jobs_client().list_jobs())
    found = await asyncio.wait_for(jobs, JOBS_TIMEOUT_S)
    by_status = GaugeMetricFamily(
        "stockray_ray_jobs", "Ray jobs known to the cluster, by status.", labels=["status"]
    )
    pending = GaugeMetricFamily(
        "stockray_ray_job_pending_oldest_seconds",
        "How long the oldest pending Ray job has waited (0 when none).",
    )
    counts: dict[str, int] = {}
    oldest = 0.0
    for job in found:
        status = str(getattr(job.status, "value", job.status))
        counts[status] = counts.get(status, 0) + 1
        if status == "PENDING" and job.start_time:
            oldest = max(oldest, time.time() - job.start_time / 1000)
    for status, n in sorted(counts.items()):
        by_status.add_metric([status], n)
    pending.add_metric([], oldest)
    return [by_status, pending]

"""REST API `/api/v1/ops/charts/*`: the series behind the Operations page's small charts:
LLM spend per day against the daily budget, job run durations and failures, and provider
requests per minute against their limits."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from core.storage import ops_charts, provider_minutes
from serve_app.context import Ctx
from serve_app.routes import read_router
from serve_app.schemas import IsoDay, IsoTime

router = read_router()
MAX_RUNS = 500  # the newest runs drawn; the per-kind summary counts them all


class SpendDay(BaseModel):
    """One UTC day's LLM calls and cost, and the budget that held that day."""

    day: IsoDay
    calls: int
    cost_usd: float
    budget_usd: float = Field(description="the day's budget row, else the configured budget")


class SpendChart(BaseModel):
    """LLM spend per UTC day (every day of the window, oldest first) and today's budget."""

    days: list[SpendDay]
    budget_usd: float = Field(description="the configured daily budget (pricing.yaml)")


@router.get("/ops/charts/spend", response_model=SpendChart)
async def spend_chart(
    ctx: Ctx, days: Annotated[int, Query(ge=1, le=366, description="days up to today")] = 30
) -> dict[str, Any]:
    """LLM spend per UTC day over the last `days` days (today included), each against
    that day's budget."""
    today = datetime.now(UTC).date()
    configured = ctx.settings.pricing.budget.daily_usd
    found = await ops_charts.spend_per_day(
        await ctx.pool(), today - timedelta(days=days - 1), today
    )
    return {
        "days": [
            {
                "day": d.day,
                "calls": d.calls,
                "cost_usd": d.cost_micro / 1e6,
                "budget_usd": configured if d.limit_micro is None else d.limit_micro / 1e6,
            }
            for d in found
        ],
        "budget_usd": configured,
    }


class RunPoint(BaseModel):
    """A finished job run: kind, status, when and how long."""

    id: str
    kind: str
    status: str = Field(description="succeeded, failed or cancelled")
    started_at: IsoTime
    finished_at: IsoTime
    duration_s: float


class KindSummary(BaseModel):
    """The runs of one kind that ended in the window."""

    kind: str
    runs: int
    failed: int
    median_s: float
    max_s: float


class JobsChart(BaseModel):
    """Finished runs of the window (the newest 500, oldest first) and a summary per kind."""

    since: IsoTime
    runs: list[RunPoint]
    kinds: list[KindSummary]


@router.get("/ops/charts/jobs", response_model=JobsChart)
async def jobs_chart(
    ctx: Ctx, days: Annotated[int, Query(ge=1, le=90, description="days back from now")] = 7
) -> dict[str, Any]:
    """The job runs that ended in the last `days` days: each one's duration and status, and
    per kind how many ran, how many failed, their median and longest duration."""
    since = datetime.now(UTC) - timedelta(days=days)
    pool = await ctx.pool()
    runs = await ops_charts.finished_runs(pool, since, MAX_RUNS)
    kinds = await ops_charts.runs_by_kind(pool, since)
    return {
        "since": since,
        "runs": [asdict(r) for r in runs],
        "kinds": [asdict(k) for k in kinds],
    }


class MinutePoint(BaseModel):
    """Requests sent to a provider in one UTC minute: all, refused (rate limit or quota),
    failed otherwise."""

    minute: IsoTime
    requests: int
    refused: int
    failed: int


class Window(BaseModel):
    """One configured rate limit: at most `requests` per `per_s` seconds."""

    requests: int
    per_s: float


class ProviderRate(BaseModel):
    """One provider's requests per minute and the most its limits allow in a minute."""

    provider: str
    enabled: bool
    limit_per_min: float | None = Field(
        description="the most any one minute may hold under every configured window"
    )
    limits: list[Window]
    minutes: list[MinutePoint] = Field(description="every minute of the window, oldest first")


class ProvidersChart(BaseModel):
    """Requests per minute per provider over [start, end)."""

    start: IsoTime
    end: IsoTime
    providers: list[ProviderRate]


@router.get("/ops/charts/providers", response_model=ProvidersChart)
async def providers_chart(
    ctx: Ctx,
    minutes: Annotated[int, Query(ge=5, le=1440, description="minutes up to now")] = 60,
) -> dict[str, Any]:
    """Requests per minute sent to each provider over the last `minutes` minutes (the
    current one included), as the provider actors counted them, with each provider's
    per-minute limit."""
    end = provider_minutes.minute_of(datetime.now(UTC)) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    found = await provider_minutes.between(await ctx.pool(), start, end)
    by_provider: dict[str, dict[datetime, provider_minutes.ProviderMinute]] = {}
    for row in found:
        by_provider.setdefault(row.provider, {})[row.minute] = row
    configured = ctx.settings.providers.providers
    names = sorted(set(configured) | set(by_provider))
    steps = [start + timedelta(minutes=i) for i in range(minutes)]
    return {
        "start": start,
        "end": end,
        "providers": [
            _provider_rate(ctx, name, configured.get(name), by_provider.get(name, {}), steps)
            for name in names
        ],
    }


def per_minute_limit(limits: list[Any]) -> float | None:
    """The most requests one minute may hold under every window: a window of a minute or
    less allows `requests * 60 / per_s`, a longer one at most its whole `requests`."""
    caps = [w.requests * 60 / w.per_s if w.per_s <= 60 else w.requests for w in limits]
    return min(caps) if caps else None


def _provider_rate(
    ctx: Ctx,
    name: str,
    config: Any,
    rows: dict[datetime, provider_minutes.ProviderMinute],
    steps: list[datetime],
) -> dict[str, Any]:
    limits = list(config.limits) if config is not None else []
    points = []
    for minute in steps:
        row = rows.get(minute)
        counts = (row.requests, row.refused, row.failed) if row else (0, 0, 0)
        points.append(dict(zip(("requests", "refused", "failed"), counts, strict=True)))
        points[-1]["minute"] = minute
    return {
        "provider": name,
        "enabled": ctx.settings.provider_problem(name) is None,
        "limit_per_min": per_minute_limit(limits),
        "limits": [{"requests": w.requests, "per_s": w.per_s} for w in limits],
        "minutes": points,
    }

"""Reading the weekly report's numbers from the database into a `WeeklyReport`."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from core.freshness import last_success
from core.storage import api_daily, costs, watermarks, weekly
from core.storage.db import Db
from core.weekly_report.model import (
    PROBE_ROUTES,
    BudgetDay,
    FreshnessRow,
    JobsDay,
    NewsVolume,
    RouteTotal,
    SpendDay,
    TrafficDay,
    WeeklyReport,
)

Expected = dict[tuple[str, str], float]
"""(instrument id, capability) → the longest its data may go without advancing (seconds),
as its schedules have it collected; pairs no schedule collects are absent."""

TOP_NEWS = 10


async def gather(
    db: Db,
    start: date,
    end: date,
    daily_budget_usd: float,
    expected: Expected,
    now: datetime,
) -> WeeklyReport:
    """The report over UTC days [start, end]; freshness as of `now`. Days without a budget
    row (no LLM call) count the configured `daily_budget_usd`."""
    stored = await api_daily.days(db, start, end)
    jobs = await weekly.job_days(db, start, end)
    spend = await costs.spend_by_day(db, start, end)
    budget_rows = {b.day: b.limit_micro / 1e6 for b in await weekly.budget_days(db, start, end)}
    news = await weekly.top_news(db, start, end, TOP_NEWS)
    advanced = await watermarks.last_advances(db)
    report = WeeklyReport(
        start=start,
        end=end,
        generated_at=now,
        traffic=_traffic(stored),
        routes=_routes(stored),
        jobs=[JobsDay(day=j.day, kind=j.kind, runs=j.runs, failed=j.failed) for j in jobs],
        spend=_spend(spend),
        budget=[],
        freshness=_freshness(expected, advanced, now),
        news=[NewsVolume(instrument_id=n.instrument_id, articles=n.articles) for n in news],
    )
    report.budget = [
        BudgetDay(day=d, limit_usd=budget_rows.get(d, daily_budget_usd)) for d in report.days
    ]
    return report


def _traffic(stored: list[api_daily.ApiDay]) -> list[TrafficDay]:
    merged: dict[date, api_daily.ApiDay] = {}
    for row in stored:
        if row.route in PROBE_ROUTES:
            continue
        merged.setdefault(row.day, api_daily.ApiDay(row.day, "*")).merge(row)
    return [
        TrafficDay(
            day=day,
            requests=m.requests,
            errors_4xx=m.errors_4xx,
            errors_5xx=m.errors_5xx,
            p95_s=api_daily.quantile(m.buckets, 0.95),
        )
        for day, m in sorted(merged.items())
    ]


def _routes(stored: list[api_daily.ApiDay]) -> list[RouteTotal]:
    merged: dict[str, api_daily.ApiDay] = {}
    for row in stored:
        merged.setdefault(row.route, api_daily.ApiDay(row.day, row.route)).merge(row)
    totals = [
        RouteTotal(
            route=route,
            requests=m.requests,
            errors_5xx=m.errors_5xx,
            p95_s=api_daily.quantile(m.buckets, 0.95),
        )
        for route, m in merged.items()
    ]
    return sorted(totals, key=lambda r: (-r.requests, r.route))


def _spend(rows: list[costs.DaySpend]) -> list[SpendDay]:
    by: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:  # one row per endpoint: the report is per model
        by[r.day, r.model][0] += r.calls
        by[r.day, r.model][1] += r.cost_micro
    return [
        SpendDay(day=day, model=model, calls=calls, cost_usd=micro / 1e6)
        for (day, model), (calls, micro) in sorted(by.items())
    ]


def _freshness(
    expected: Expected, advanced: list[watermarks.Freshness], now: datetime
) -> list[FreshnessRow]:
    last = last_success(advanced)  # prices are watermarked per interval (`prices:1d`)
    rows: dict[str, FreshnessRow] = {}
    for (instrument, capability), max_age_s in sorted(expected.items()):
        row = rows.setdefault(
            capability, FreshnessRow(capability=capability, fresh=0, stale=0, never=0)
        )
        at = last.get((instrument, capability))
        if at is None:
            row.never += 1
            row.stale_ids.append(instrument)
        elif now.timestamp() - at > max_age_s:
            row.stale += 1
            row.stale_ids.append(instrument)
        else:
            row.fresh += 1
    return [rows[c] for c in sorted(rows)]

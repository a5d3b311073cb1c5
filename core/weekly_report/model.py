"""The weekly report's numbers: one typed record, built from the stored rows, that the
charts, the HTML and the JSON beside it are all drawn from."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

# Routes that are probes, not use: left out of the request counts (their own row in the
# route table still shows them).
PROBE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class TrafficDay(BaseModel):
    """The API on one UTC day: requests (probes excluded), 4xx/5xx answers, p95 latency."""

    day: date
    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    p95_s: float | None = None

    @property
    def error_rate(self) -> float | None:
        """5xx answers per request, None without requests."""
        return self.errors_5xx / self.requests if self.requests else None


class RouteTotal(BaseModel):
    """One route over the period: requests, 5xx answers, p95 latency."""

    route: str
    requests: int
    errors_5xx: int
    p95_s: float | None


class JobsDay(BaseModel):
    """Job runs of one kind started on one UTC day, and the failed ones."""

    day: date
    kind: str
    runs: int
    failed: int


class SpendDay(BaseModel):
    """LLM spend on one UTC day by one model, USD."""

    day: date
    model: str
    calls: int
    cost_usd: float


class BudgetDay(BaseModel):
    """The daily LLM budget in force on one UTC day (the day's row, else the setting)."""

    day: date
    limit_usd: float


class FreshnessRow(BaseModel):
    """Per capability at report time: instruments whose data advanced within what their
    schedule expects (fresh), those late (stale) and those never collected."""

    capability: str
    fresh: int
    stale: int
    never: int
    stale_ids: list[str] = Field(default_factory=list)


class NewsVolume(BaseModel):
    """Articles published in the period about one instrument."""

    instrument_id: str
    articles: int


class WeeklyReport(BaseModel):
    """Everything the weekly report shows, over the UTC days [start, end]."""

    start: date
    end: date
    generated_at: datetime
    traffic: list[TrafficDay]
    routes: list[RouteTotal]
    jobs: list[JobsDay]
    spend: list[SpendDay]
    budget: list[BudgetDay]
    freshness: list[FreshnessRow]
    news: list[NewsVolume]

    @property
    def days(self) -> list[date]:
        """Every day of the period, first to last."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def totals(self) -> dict[str, Any]:
        """The headline numbers (also the job run's counts)."""
        requests = sum(d.requests for d in self.traffic)
        errors = sum(d.errors_5xx for d in self.traffic)
        p95s = [d.p95_s for d in self.traffic if d.p95_s is not None]
        return {
            "requests": requests,
            "errors_4xx": sum(d.errors_4xx for d in self.traffic),
            "errors_5xx": errors,
            "error_rate": round(errors / requests, 6) if requests else None,
            "worst_p95_s": round(max(p95s), 4) if p95s else None,
            "job_runs": sum(j.runs for j in self.jobs),
            "job_failures": sum(j.failed for j in self.jobs),
            "llm_calls": sum(s.calls for s in self.spend),
            "llm_spend_usd": round(sum(s.cost_usd for s in self.spend), 6),
            "llm_budget_usd": round(sum(b.limit_usd for b in self.budget), 6),
            "articles_top": sum(n.articles for n in self.news),
            "stale": sum(f.stale + f.never for f in self.freshness),
        }

    def jobs_by_kind(self) -> dict[str, dict[str, int]]:
        """Per job kind: runs and failures over the period."""
        out: dict[str, dict[str, int]] = {}
        for j in self.jobs:
            row = out.setdefault(j.kind, {"runs": 0, "failed": 0})
            row["runs"] += j.runs
            row["failed"] += j.failed
        return dict(sorted(out.items()))

    def spend_by_model(self) -> dict[str, float]:
        """Per model: USD over the period."""
        out: dict[str, float] = {}
        for s in self.spend:
            out[s.model] = round(out.get(s.model, 0.0) + s.cost_usd, 6)
        return dict(sorted(out.items()))

"""What each job answers: the summary it prints as its last line (one JSON object).

The JSON is what the jobs printed before these models existed, key for key and in order;
`line()` writes it.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.collection import Counts


class JobSummary(BaseModel):
    """The fields every summary has; `line()` is its JSON."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    run_id: str
    trace_id: str

    def line(self) -> str:
        """The summary as one line of JSON."""
        return json.dumps(self.model_dump(mode="python"), default=str)


class CollectSummary(JobSummary):
    """`jobs.collect`: the plan, what was saved, which instrument failed what (by capability),
    and the `jobs.analyze` it started (absent with `--plan-only`, which runs nothing)."""

    kind: Literal["collect"] = "collect"
    instruments: int
    plan: dict[str, Any] = Field(description="`core.planning.Plan.summary()`")
    analyze_job: str | None = None
    counts: Counts = Field(default_factory=Counts)
    failed: dict[str, dict[str, str]] = {}
    elapsed_s: float = 0.0
    plan_only: bool = Field(default=False, exclude=True)

    def line(self) -> str:
        """The summary as one line of JSON."""
        skip = {"analyze_job"} if self.plan_only else set()
        return json.dumps(self.model_dump(mode="python", exclude=skip), default=str)


class BackfillSummary(JobSummary):
    """`jobs.backfill`: chunks planned, skipped (done before), done and failed (named, with
    the error), rows and their rate, and how many chunks each Ray node ran."""

    kind: Literal["backfill"] = "backfill"
    backfill_id: str
    chunks_total: int
    chunks_skipped: int
    chunks_done: int
    chunks_failed: dict[str, str]
    rows: int
    rows_per_s: float
    counts: Counts
    chunks_by_node: dict[str, int]


class AnalyzeCounts(BaseModel):
    """Totals of an analyze run (also its `job_runs.counts`)."""

    articles: int = 0
    analysed: int = 0
    skipped: int = 0
    failed: int = 0
    llm_calls: int = 0
    cost_usd: float = 0.0
    reports: int = 0
    degraded: dict[str, Any] | None = None


class AnalyzeSummary(JobSummary):
    """`jobs.analyze`: the totals, instruments degraded to the lexicon (and why), those that
    failed, and how many instruments each Ray node ran."""

    kind: Literal["analyze"] = "analyze"
    counts: AnalyzeCounts
    degraded: dict[str, Any]
    failed: dict[str, Any]
    instruments_by_node: dict[str, int]

"""What starts a job and what it answers: typed requests (`python -m jobs.NAME ARGS`) and
the summaries the jobs print as their last line. Ray-free: the scheduler, the API, the CLI
and the jobs themselves build and read them."""

from core.jobs.args import Problem, UsageError
from core.jobs.requests import (
    JOB_REQUESTS,
    AnalyzeRequest,
    Backfill,
    BackfillRequest,
    CollectRequest,
    JobRequest,
)
from core.jobs.results import AnalyzeCounts, AnalyzeSummary, BackfillSummary, CollectSummary

__all__ = [
    "JOB_REQUESTS",
    "AnalyzeCounts",
    "AnalyzeRequest",
    "AnalyzeSummary",
    "Backfill",
    "BackfillRequest",
    "BackfillSummary",
    "CollectRequest",
    "CollectSummary",
    "JobRequest",
    "Problem",
    "UsageError",
]

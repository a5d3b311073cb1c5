"""What starts a job and what it answers: typed requests (`python -m jobs.NAME ARGS`) and
the summaries the jobs print as their last line. Ray-free: the scheduler, the API, the CLI
and the jobs themselves build and read them."""

from core.jobs.args import Problem, UsageError
from core.jobs.maintenance import (
    MAINTENANCE_REQUESTS,
    BaseBackupRequest,
    RetentionRequest,
    WeeklyReportRequest,
)
from core.jobs.requests import (
    DATA_REQUESTS,
    AnalyzeRequest,
    Backfill,
    BackfillRequest,
    CollectRequest,
    JobRequest,
)
from core.jobs.results import AnalyzeCounts, AnalyzeSummary, BackfillSummary, CollectSummary

JOB_REQUESTS: dict[str, type[JobRequest]] = {
    r.JOB: r for r in (*DATA_REQUESTS, *MAINTENANCE_REQUESTS)
}
"""Each job's request, by job name (`python -m jobs.NAME`, `stockray NAME`)."""

__all__ = [
    "JOB_REQUESTS",
    "MAINTENANCE_REQUESTS",
    "AnalyzeCounts",
    "AnalyzeRequest",
    "AnalyzeSummary",
    "Backfill",
    "BackfillRequest",
    "BackfillSummary",
    "BaseBackupRequest",
    "CollectRequest",
    "CollectSummary",
    "JobRequest",
    "Problem",
    "RetentionRequest",
    "UsageError",
    "WeeklyReportRequest",
]

"""`python -m jobs.retention`: delete what is past each table's retention setting.

    python -m jobs.retention [--dry-run]

Policies (settings `STOCKRAY_RETAIN_*_DAYS`, 0 = keep forever): intraday bars (whole old
monthly partitions dropped, the rest in batches), article bodies (the summary emptied; the
row and fingerprint stay, cited articles keep theirs), `llm_usage`, finished `job_runs`, the
story matcher's index (signatures and bands; articles keep their story ids) and `api_daily`.
Daily bars, instruments and the Parquet lake are never touched. It also creates the bar
partitions the next weeks need. Batches are short transactions, so it is safe to stop and
run again. One `job_runs` row holds the counts per policy; the JSON summary is the last
line. `--dry-run` counts what would go and changes nothing. Exit codes: 0 done, 1 failed,
2 bad arguments.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from configs.settings import Settings
from core.jobs import RetentionRequest
from core.jobs.results import JobSummary
from core.storage import job_runs, partitions, retention
from core.storage.db import connect
from jobs.common import describe_error, read_request, start_job, summary_line

PROG = "jobs.retention"
log = logging.getLogger("stockray.jobs.retention")


class RetentionSummary(JobSummary):
    """`jobs.retention`: rows deleted (bodies emptied) per policy, their cutoffs (None: kept
    forever), intraday partitions dropped and partitions created ahead."""

    kind: Literal["retention"] = "retention"
    dry_run: bool
    counts: dict[str, int]
    cutoffs: dict[str, datetime | None]
    partitions_dropped: int = 0
    partitions_created: int = 0
    error: str | None = None
    elapsed_s: float = 0.0


def cutoffs(settings: Settings, now: datetime) -> dict[str, datetime | None]:
    """Each policy's cutoff: `now` less its retention in days (None when 0: forever)."""
    days = {
        retention.INTRADAY_BARS: settings.retain_intraday_bars_days,
        retention.ARTICLE_BODIES: settings.retain_article_bodies_days,
        retention.LLM_USAGE: settings.retain_llm_usage_days,
        retention.JOB_RUNS: settings.retain_job_runs_days,
        retention.STORY_INDEX: settings.retain_story_index_days,
        retention.API_DAILY: settings.retain_api_daily_days,
    }
    return {p: (now - timedelta(days=d) if d else None) for p, d in days.items()}


async def run_retention(
    dsn: str, request: RetentionRequest, settings: Settings, trace_id: str, now: datetime
) -> RetentionSummary:
    """Apply every policy in turn, recording the run and its counts in `job_runs`."""
    started = time.monotonic()
    limits = cutoffs(settings, now)
    summary = RetentionSummary(
        run_id="", trace_id=trace_id, dry_run=request.dry_run, counts={}, cutoffs=limits
    )
    conn = await connect(dsn)
    try:
        params = {"dry_run": request.dry_run, "cutoffs": {k: str(v) for k, v in limits.items()}}
        run_id = await job_runs.start_run(conn, "retention", trace_id, params)
        summary.run_id = str(run_id)
        try:
            if not request.dry_run:
                summary.partitions_created = await partitions.prepare_ahead(conn, now)
            for policy, cutoff in limits.items():
                done = await retention.sweep(conn, policy, cutoff, request.dry_run)
                summary.counts[policy] = done.rows
                summary.partitions_dropped += done.partitions_dropped
                log.info("%s: %d rows past %s", policy, done.rows, cutoff or "never")
                await job_runs.update_counts(conn, run_id, _counts(summary))
        except Exception as exc:  # recorded on the run, then reported by the exit code
            summary.error = describe_error(exc)
        summary.elapsed_s = round(time.monotonic() - started, 3)
        status = "failed" if summary.error else "succeeded"
        await job_runs.finish_run(conn, run_id, status, _counts(summary), summary.error)
    finally:
        await conn.close()
    return summary


def _counts(summary: RetentionSummary) -> dict:
    return {
        **summary.counts,
        "dry_run": summary.dry_run,
        "partitions_dropped": summary.partitions_dropped,
        "partitions_created": summary.partitions_created,
    }


def parse_args(argv: Sequence[str] | None = None) -> RetentionRequest:
    """The command line as the job's request (`RetentionRequest.from_argv`)."""
    return read_request(RetentionRequest, PROG, argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 done, 1 failed, 2 bad arguments."""
    job = start_job(PROG, parse_args(argv))
    dsn = job.settings.database_url.get_secret_value()
    summary = asyncio.run(
        run_retention(dsn, job.request, job.settings, job.trace_id, datetime.now(UTC))
    )
    summary_line(summary)
    return 1 if summary.error else 0


if __name__ == "__main__":
    raise SystemExit(main())

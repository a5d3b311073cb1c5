"""`python -m jobs.weekly_report`: the operators' weekly report as one HTML page.

    python -m jobs.weekly_report [--end YYYY-MM-DD] [--days 7]

Covers the UTC days [end - days + 1, end] (default: the 7 days up to yesterday): API
requests and p95 latency per day (`api_daily`), error rate, job runs and failures by kind,
collection freshness per capability against the schedules, LLM spend by model against the
daily budget, and the instruments with the most news. Writes
`<STOCKRAY_HOME>/reports/weekly/weekly-<end>.html` (charts inline, nothing fetched from
elsewhere) and `weekly-<end>.json` (the numbers); a re-run for the same week replaces both
atomically and its `job_runs` row says `replaced: true`. Needs no Ray task: it only reads
Postgres and writes files. Exit codes: 0 written, 1 failed, 2 bad arguments.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from configs.settings import Settings
from core.freshness import STALE_FACTOR, collection_intervals
from core.jobs import WeeklyReportRequest
from core.jobs.results import JobSummary
from core.storage import job_runs
from core.storage.db import connect
from core.weekly_report import Expected, gather, write_report
from jobs.common import describe_error, read_request, start_job, summary_line

PROG = "jobs.weekly_report"
log = logging.getLogger("stockray.jobs.weekly_report")


class WeeklyReportSummary(JobSummary):
    """`jobs.weekly_report`: the days covered, the page written (and whether it replaced
    one), and the headline numbers."""

    kind: Literal["weekly_report"] = "weekly_report"
    start: date
    end: date
    path: str
    bytes: int
    replaced: bool
    totals: dict[str, float | int | None]


def period(request: WeeklyReportRequest, today: date) -> tuple[date, date]:
    """The first and last UTC day the report covers."""
    end = request.end or today - timedelta(days=1)
    return end - timedelta(days=request.days - 1), end


def expected_freshness(settings: Settings, now: datetime) -> Expected:
    """Per (instrument, capability) some enabled collect schedule covers: the longest its
    data may go without advancing before it is stale, as `stockray doctor` and the
    `StockrayCollectionStale` alert have it (`core.freshness`: `STALE_FACTOR` times the
    shortest schedule's gap, a cron's longest gap, a weekend included)."""
    intervals = collection_intervals(settings, now.timestamp())
    return {pair: STALE_FACTOR * gap for pair, gap in intervals.items()}


async def run(
    settings: Settings, request: WeeklyReportRequest, trace_id: str
) -> WeeklyReportSummary:
    """Gather, render and write the report, recorded as one `job_runs` row."""
    now = datetime.now(UTC)
    start, end = period(request, now.date())
    assert settings.database_url is not None and settings.pricing is not None
    conn = await connect(settings.database_url.get_secret_value())
    try:
        params = {"start": start.isoformat(), "end": end.isoformat(), "days": request.days}
        run_id = await job_runs.start_run(conn, "weekly_report", trace_id, params)
        try:
            report = await gather(
                conn, start, end, settings.pricing.budget.daily_usd,
                expected_freshness(settings, now), now,
            )  # fmt: skip
            written = await asyncio.to_thread(write_report, settings.home, report)
        except Exception as exc:
            await job_runs.finish_run(conn, run_id, "failed", {}, describe_error(exc))
            raise
        totals = report.totals()
        counts = {**totals, "path": str(written.path), "bytes": written.bytes,
                  "replaced": written.replaced}  # fmt: skip
        await job_runs.finish_run(conn, run_id, "succeeded", counts)
    finally:
        await conn.close()
    return WeeklyReportSummary(
        run_id=str(run_id),
        trace_id=trace_id,
        start=start,
        end=end,
        path=str(written.path),
        bytes=written.bytes,
        replaced=written.replaced,
        totals=totals,
    )


def parse_args(argv: Sequence[str] | None = None) -> WeeklyReportRequest:
    """The command line as the job's request (`WeeklyReportRequest.from_argv`)."""
    return read_request(WeeklyReportRequest, PROG, argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 written, 1 failed, 2 bad arguments."""
    job = start_job(PROG, parse_args(argv))
    summary = asyncio.run(run(job.settings, job.request, job.trace_id))
    log.info("weekly report written: %s", summary.path)
    summary_line(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m jobs.analyze`: analyse new articles and publish a report per instrument.

    python -m jobs.analyze [--tickers AAPL,us] [--window 24h|7d] [--trace-id ID]

One Ray task per instrument; the LLM gateway actor's limits and budget are the only
throttle. Articles already analysed with this prompt version cost nothing; with no usable
endpoint, once the daily budget is spent, or for answers that stay invalid, the lexicon
takes over and the counts say so. Each new report is published with a `report.published`
event; one `job_runs` row holds the counts and the cost of every call `llm_usage` recorded.
Exit codes: 0 succeeded, 1 some instrument failed, 2 bad arguments, 3 degraded (everything
was published, but part of it by the lexicon in place of the LLM).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import ray

from configs.settings import load_settings
from core.analysis.pipeline import analyze_articles, write_report
from core.errors import LLMError
from core.jobs import AnalyzeCounts, AnalyzeRequest, AnalyzeSummary
from core.llm.budget import spent_by_run
from core.models import Instrument
from core.storage import job_runs
from core.storage.db import connect
from jobs.common import (
    MAX_IN_FLIGHT,
    TASK_SCHEDULING,
    connect_cluster,
    describe_error,
    read_request,
    run_bounded,
    run_task,
    start_job,
    summary_line,
)

PROG = "jobs.analyze"
EXIT_DEGRADED = 3
log = logging.getLogger("stockray.jobs.analyze")


async def _analyze(
    instrument: Instrument, start: datetime, end: datetime, window: str, trace_id: str
) -> dict[str, Any]:
    from actors.events import events_handle
    from actors.llm import gateway_handle, remote_complete
    from core.events import ReportPublished

    settings = load_settings()
    gateway = gateway_handle()
    complete = remote_complete(gateway) if await gateway.enabled.remote() else None
    conn = await connect(settings.database_url.get_secret_value())
    try:
        counts = await analyze_articles(
            conn, instrument, start, end, complete, settings.locale, trace_id
        )
        if counts["degraded"] and counts["degraded"].startswith("lexicon from here on"):
            complete = None  # the budget is spent: the report comes from the lexicon too
        try:
            report = await write_report(
                conn, instrument, start, end, window, complete, settings.locale, trace_id,
                counts["degraded"],
            )  # fmt: skip
        except LLMError as err:
            report = {"report_id": None, "error": describe_error(err)}
    finally:
        await conn.close()
    if report.get("report_id") and not report.get("cached"):
        event = ReportPublished(
            instrument=instrument.id, report_id=report["report_id"], trace_id=trace_id
        )
        await events_handle().publish.remote(event.KIND, event.dump())  # raises if the hub is away
        log.info("report %s published", report["report_id"], extra={"status": "published"})
    elif report.get("error"):
        log.warning("no report: %s", report["error"], extra={"status": "failed"})
    else:
        log.info("report unchanged (cached)", extra={"status": "cached"})
    return {"instrument": instrument.id, "counts": counts, "report": report}


@ray.remote(num_cpus=0, scheduling_strategy=TASK_SCHEDULING)
def analyze_instrument(
    instrument: Instrument, start: datetime, end: datetime, window: str, trace_id: str
) -> dict[str, Any]:
    """Analyse one instrument (a Ray task; retried by Ray if its node dies)."""
    return run_task(
        lambda: _analyze(instrument, start, end, window, trace_id),
        trace_id,
        "analyze",
        instrument.id,
    )


def parse_args(argv: Sequence[str] | None = None) -> AnalyzeRequest:
    """The command line as the job's request (`AnalyzeRequest.from_argv`)."""
    return read_request(AnalyzeRequest, PROG, argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 all instruments done, 1 some failed, 2 bad arguments, 3 degraded."""
    job = start_job(PROG, parse_args(argv))
    end = datetime.now(UTC)
    start = end - job.request.span
    connect_cluster()
    summary = asyncio.run(
        _run(job.settings, job.instruments, start, end, job.request.window, job.trace_id)
    )
    summary_line(summary)
    if summary.failed:
        return 1
    return EXIT_DEGRADED if summary.degraded else 0


async def _run(settings, instruments, start, end, window, trace_id) -> AnalyzeSummary:
    totals = AnalyzeCounts()
    failed, degraded, by_node = {}, {}, Counter()
    conn = await connect(settings.database_url.get_secret_value())
    try:
        params = {"tickers": [i.id for i in instruments], "window": window}
        run_id = await job_runs.start_run(conn, "analyze", trace_id, params)
        for instrument, result in run_bounded(
            lambda i: analyze_instrument.remote(i, start, end, window, trace_id),
            instruments,
            MAX_IN_FLIGHT,
        ):
            if isinstance(result, Exception):
                failed[instrument.id] = describe_error(result)
                continue
            counts, report = result["counts"], result["report"]
            by_node[result["node_id"]] += 1
            for key in ("articles", "analysed", "skipped", "failed", "llm_calls", "cost_usd"):
                setattr(totals, key, getattr(totals, key) + counts[key])
            totals.cost_usd += report.get("cost_usd") or 0.0
            totals.reports += bool(report.get("report_id") and not report.get("cached"))
            why = counts.get("degraded") or report.get("degraded") or report.get("note")
            if why:
                degraded[instrument.id] = why
            if report.get("error") or counts["failed"]:
                failed[instrument.id] = report.get("error") or counts.get("errors")
            print(f"{PROG}: {instrument.id} {counts} report={report}", flush=True)
        # Every call that cost money, answers that failed validation included.
        totals.llm_calls, cost = await spent_by_run(conn, trace_id, run_id)
        totals.cost_usd = round(cost, 6)
        totals.degraded = degraded or None
        status = "failed" if failed else "degraded" if degraded else "succeeded"
        error = "; ".join(f"{k}: {v}" for k, v in failed.items()) or None
        await job_runs.finish_run(conn, run_id, status, totals.model_dump(), error)
    finally:
        await conn.close()
    return AnalyzeSummary(
        run_id=str(run_id),
        trace_id=trace_id,
        counts=totals,
        degraded=degraded,
        failed=failed,
        instruments_by_node=dict(by_node),
    )


if __name__ == "__main__":
    raise SystemExit(main())

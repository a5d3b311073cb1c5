"""`python -m jobs.collect`: fetch each instrument's new data since its watermark and store it.

    python -m jobs.collect [--tickers AAPL,MSFT|us|sp500] [--capabilities prices,news,...]
                           [--interval 1d] [--cycle-s 3600] [--plan-only] [--trace-id ID]

The cycle is planned before its first request (core/planning.py): requests per provider
within each one's limits and, with `--cycle-s`, its share of the daily quotas; several
instruments per request where the provider takes them (NewsAPI); what does not fit is
deferred up front, stalest first, and named. A few worker tasks (jobs/collect_units.py) run
the planned requests, a bounded number in flight per provider, and stream each outcome back;
the provider actors' limiters pace the calls. Each instrument
publishes `collected` events; the run is one `job_runs` row with counts fetched, unique,
saved. Exit 0 when every request succeeded (deferred is not failed), 1 otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import ray

from actors.events import publish
from configs.settings import Settings
from core.collection import Counts
from core.events import CollectProgress
from core.jobs import AnalyzeRequest, CollectRequest, CollectSummary
from core.planning import Unit
from core.storage import job_runs
from core.storage.db import connect
from core.storage.progress import record_progress
from jobs.collect_plan import in_flight, make_plan, stalest_first
from jobs.collect_units import COLLECTORS, Batch, collect_units
from jobs.common import (
    Progress,
    connect_cluster,
    describe_error,
    read_request,
    start_job,
    summary_line,
)

PROG = "jobs.collect"
log = logging.getLogger("stockray.jobs.collect")


def parse_args(argv: Sequence[str] | None = None) -> CollectRequest:
    """The command line as the job's request (`CollectRequest.from_argv`)."""
    return read_request(CollectRequest, PROG, argv)


def trigger_analysis(settings: Settings, tickers: list[str], trace_id: str) -> str | None:
    """Submit `jobs.analyze` for the instruments that received new articles; its job id."""
    from ray.job_submission import JobSubmissionClient

    request = AnalyzeRequest(tickers=tickers, window="7d", trace_id=trace_id)
    try:
        return JobSubmissionClient(settings.dashboard_url).submit_job(
            entrypoint=request.to_entrypoint(),
            metadata={"trigger": "collect", "trace_id": trace_id},
        )
    except Exception as exc:  # collection succeeded; a failed trigger is reported, not fatal
        print(f"{PROG}: could not start jobs.analyze: {type(exc).__name__}: {exc}", flush=True)
        return None


async def _record(dsn: str, trace_id: str, params: dict, outcome) -> CollectSummary:
    conn = await connect(dsn)
    try:
        run_id = await job_runs.start_run(conn, "collect", trace_id, params)
        summary: CollectSummary = await outcome(conn, run_id)
        status = "succeeded" if not summary.failed else "failed"
        error = "; ".join(f"{k}: {v}" for k, v in summary.failed.items()) or None
        await job_runs.finish_run(conn, run_id, status, summary.counts.as_dict(), error)
        return summary
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0 on full success, 1 if any instrument failed, 2 on bad arguments."""
    job = start_job(PROG, parse_args(argv))
    request, settings, trace_id = job.request, job.settings, job.trace_id
    instruments = job.instruments
    capabilities = request.capabilities
    interval = request.interval
    params = {
        "tickers": [i.id for i in instruments],
        "capabilities": [c.value for c in capabilities],
        "interval": interval,
        "cycle_s": request.cycle_s,
    }
    connect_cluster()
    from actors.providers import router_handle

    health = ray.get(router_handle().health.remote())
    by_id = {i.id: i for i in instruments}
    now = datetime.now(UTC)

    async def run(conn: Any, run_id: Any) -> CollectSummary:
        work = await stalest_first(conn, settings, instruments, capabilities, interval)
        plan = make_plan(settings, work, health, interval, request.cycle_s)
        for line in plan.describe():
            print(f"{PROG}: {line}", flush=True)
        summary = CollectSummary(run_id=str(run_id), trace_id=trace_id,
                                 instruments=len(instruments), plan=plan.summary())  # fmt: skip
        if request.plan_only:
            return summary.model_copy(update={"plan_only": True})
        started = time.monotonic()
        total, failed, fresh = Counts(), {}, set()
        progress = Progress(PROG, len(plan.units))

        lock = asyncio.Lock()  # one connection records every step

        async def step(unit: Unit, result: dict[str, Any]) -> None:
            nonlocal total
            rows = 0
            if "error" in result:
                for iid in unit.instrument_ids:
                    failed.setdefault(iid, {})[unit.capability.value] = result["error"]
            else:
                for iid, entry in result["instruments"].items():
                    counts = Counts(**entry["counts"])
                    total += counts
                    rows += counts.saved
                    if entry["error"]:
                        failed.setdefault(iid, {})[unit.capability.value] = entry["error"]
                    if entry["new_articles"]:
                        fresh.add(iid)
            progress.step(rows)
            event = CollectProgress(
                run_id=str(run_id),
                trace_id=trace_id,
                done=progress.done,
                total=progress.total,
                counts=total.as_dict(),
                last=",".join(unit.instrument_ids[:3]),
            )
            async with lock:
                await record_progress(conn, run_id, event.dump())  # GET /status reads the row
                await publish(event)  # in order of `done`

        async def drain(work: list[tuple[int, Unit]]) -> None:
            # One worker's outcomes as they come; if it dies, its unfinished requests failed.
            caps = {u.provider: in_flight(settings, u.provider) for _, u in work}
            caps = {p: max(1, math.ceil(n / COLLECTORS)) for p, n in caps.items()}
            needed = {i: by_id[i] for _, u in work for i in u.instrument_ids}
            done: set[int] = set()
            gen = collect_units.remote(Batch(work, needed, caps, interval, now, trace_id))
            try:
                async for ref in gen:
                    result = await ref
                    done.add(result["index"])
                    await step(plan.units[result["index"]], result)
            except Exception as exc:  # the worker or its node died
                for index, unit in work:
                    if index not in done:
                        await step(unit, {"error": describe_error(exc)})

        shares = [list(enumerate(plan.units))[k::COLLECTORS] for k in range(COLLECTORS)]
        await asyncio.gather(*(drain(work) for work in shares if work))
        elapsed = time.monotonic() - started
        fresh_ids = [i.id for i in instruments if i.id in fresh]
        analyze_job = (
            trigger_analysis(settings, fresh_ids, trace_id)
            if fresh_ids and not request.no_analyze
            else None
        )
        ended = {"analyze_job": analyze_job, "counts": total, "failed": failed,
                 "elapsed_s": round(elapsed, 2)}  # fmt: skip
        return summary.model_copy(update=ended)

    dsn = settings.database_url.get_secret_value()
    summary = asyncio.run(_record(dsn, trace_id, params, run))
    summary_line(summary)
    return 1 if summary.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

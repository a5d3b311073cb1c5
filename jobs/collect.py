"""`python -m jobs.collect`: fetch each instrument's new data since its watermark and store it.

    python -m jobs.collect [--tickers AAPL,MSFT|us|sp500] [--capabilities prices,news,...]
                           [--interval 1d] [--cycle-s 3600] [--plan-only] [--trace-id ID]

The cycle is planned before its first request (core/planning.py): requests per provider
within each one's limits and, with `--cycle-s`, its share of the daily quotas; several
instruments per request where the provider takes them (NewsAPI); what does not fit is
deferred up front, stalest first, and named. One Ray task per planned request, a bounded
number in flight per provider; the provider actors' limiters pace the calls. Each instrument
publishes `collected` events; the run is one `job_runs` row with counts fetched, unique,
saved. Exit 0 when every request succeeded (deferred is not failed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import ray

from actors.events import publish
from configs.settings import load_settings
from core.collection import (
    Counts,
    collect_window,
    save_disclosures,
    save_news,
    save_prices,
    watermark_key,
)
from core.errors import ProviderError
from core.models import Capability, Instrument
from core.planning import Unit
from core.storage import job_runs, watermarks
from core.storage.db import connect
from core.storage.lake import Lake
from core.storage.progress import record_progress
from jobs.collect_plan import in_flight, make_plan, run_units, stalest_first
from jobs.common import (
    TASK_SCHEDULING,
    Progress,
    UsageError,
    add_common_args,
    capabilities_arg,
    connect_cluster,
    describe_error,
    instruments_arg,
    job_logging,
    load_job_settings,
    new_trace_id,
    summary_line,
    task_logging,
    usage_error,
)

PROG = "jobs.collect"
MAX_ARTICLE_EVENTS = 20  # per instrument and run; a first collection may save hundreds
log = logging.getLogger("stockray.jobs.collect")


async def _collect_unit(
    unit: Unit, instruments: list[Instrument], interval: str, now: datetime
) -> dict[str, Any]:
    from actors.dedupe import make_dedupe
    from actors.providers import router_handle

    settings = load_settings()
    router = router_handle()
    lake = Lake(settings.home / "lake")
    dedupe = await make_dedupe(settings)
    conn = await connect(settings.database_url.get_secret_value())
    capability = unit.capability
    key = watermark_key(capability, interval)
    per: dict[str, dict[str, Any]] = {
        i.id: {"counts": Counts(), "provider": None, "error": None, "new_articles": 0}
        for i in instruments
    }
    events: list[tuple[str, dict[str, Any], str]] = []
    try:
        marks = await watermarks.latest_many(conn, list(per), key)
        windows = {
            i.id: collect_window(capability, marks.get(i.id), now, interval) for i in instruments
        }
        try:
            if len(instruments) > 1:  # one multi-instrument request, then a save per instrument
                start = min(w[0] for w in windows.values())
                routed = await router.fetch_batch.remote(
                    unit.provider, capability, instruments, start, now
                )
                for instrument in instruments:
                    found = routed.result.get(instrument.id, [])
                    await _save_news(conn, lake, dedupe, instrument, routed.provider, found,
                                     per, events)  # fmt: skip
            else:
                instrument = instruments[0]
                start, end = windows[instrument.id]
                routed = await _fetch_one(router, unit, instrument, start, end, interval)
                if capability is Capability.PRICES:
                    saved = await save_prices(conn, lake, routed.result, end)
                    per[instrument.id]["counts"] += saved
                    if saved.saved:
                        events.append(
                            ("bar", _bar_event(routed.result.bars, interval), instrument.id)
                        )
                elif capability is Capability.NEWS:
                    await _save_news(conn, lake, dedupe, instrument, routed.provider,
                                     routed.result, per, events)  # fmt: skip
                else:
                    per[instrument.id]["counts"] += await save_disclosures(
                        conn, instrument.id, routed.provider, routed.result
                    )
            for entry in per.values():
                entry["provider"] = routed.provider
        except ProviderError as err:  # this request failed; the job's other requests go on
            for entry in per.values():
                entry["error"] = str(err)
            log.warning(
                "%s failed: %s", capability.value, err,
                extra={"provider": getattr(err, "provider", None), "status": "failed"},
            )  # fmt: skip
    finally:
        await conn.close()
    for kind, payload, instrument_id in events:  # after the rows are committed
        await publish(kind, payload, instrument_id)
    for instrument_id, entry in per.items():
        await publish("collected", _collected(instrument_id, capability, entry), instrument_id)
    log.info(
        "collected %s %s via %s", capability.value, len(instruments), unit.provider,
        extra={"status": "partial" if any(e["error"] for e in per.values()) else "ok"},
    )  # fmt: skip
    return {
        "capability": capability.value,
        "instruments": {i: {**e, "counts": e["counts"].as_dict()} for i, e in per.items()},
    }


async def _fetch_one(
    router: Any, unit: Unit, instrument: Instrument, start: datetime, end: datetime, interval: str
) -> Any:
    # One instrument: the plan's provider first, then failover in the configured order.
    if unit.capability is Capability.PRICES:
        return await router.fetch_bars.remote(instrument, start, end, interval, first=unit.provider)
    if unit.capability is Capability.NEWS:
        return await router.fetch_news.remote(instrument, start, end, first=unit.provider)
    return await router.fetch_disclosures.remote(instrument, start, end, first=unit.provider)


async def _save_news(
    conn: Any,
    lake: Lake,
    dedupe: Any,
    instrument: Instrument,
    provider: str,
    articles: list[Any],
    per: dict[str, dict[str, Any]],
    events: list[tuple[str, dict[str, Any], str]],
) -> None:
    fresh: list[Any] = []
    news = await save_news(conn, lake, instrument.id, provider, articles, dedupe, fresh_out=fresh)
    newest = sorted(fresh, key=lambda a: a.published_at, reverse=True)[:MAX_ARTICLE_EVENTS]
    events += [("article", _article_event(a), instrument.id) for a in newest]
    per[instrument.id]["counts"] += news
    per[instrument.id]["new_articles"] = news.saved


def _collected(instrument_id: str, capability: Capability, entry: dict[str, Any]) -> dict:
    return {
        "instrument": instrument_id,
        "counts": entry["counts"].as_dict(),
        "providers": {capability.value: entry["provider"]} if entry["provider"] else {},
        "errors": {capability.value: entry["error"]} if entry["error"] else {},
        "new_articles": entry["new_articles"],
    }


def _bar_event(bars: list[Any], interval: str) -> dict[str, Any]:
    # The newest bar and the close before it, so a client can show price and change.
    ordered = sorted(bars, key=lambda b: b.ts)
    last = ordered[-1]
    return {
        "interval": interval,
        "ts": last.ts.isoformat(),
        **{k: getattr(last, k) for k in ("open", "high", "low", "close", "volume", "provider")},
        "previous_close": ordered[-2].close if len(ordered) > 1 else None,
    }


def _article_event(article: Any) -> dict[str, Any]:
    return {
        "id": article.fingerprint,
        "title": article.title,
        "url": article.url,
        "published_at": article.published_at.isoformat(),
        "source": article.source,
    }


@ray.remote(num_cpus=0, scheduling_strategy=TASK_SCHEDULING)
def collect_unit(
    unit: Unit, instruments: list[Instrument], interval: str, now: datetime, trace_id: str
) -> dict[str, Any]:
    """One planned request and the writes of what it brought (a Ray task)."""
    single = instruments[0].id if len(instruments) == 1 else None
    with task_logging(trace_id, "collect", single):
        return asyncio.run(_collect_unit(unit, instruments, interval, now))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.split("\n")[0])
    parser.add_argument("--tickers", help="comma-separated ids or watchlist groups (default: all)")
    parser.add_argument("--capabilities", default="prices,news,disclosures")
    parser.add_argument("--interval", default="1d", help="bar interval for prices")
    parser.add_argument(
        "--cycle-s",
        type=float,
        help="the schedule's interval: the cycle must fit in it and may use its share of the "
        "daily quotas (default: a one-off run that may use all that is left)",
    )
    parser.add_argument(
        "--plan-only", action="store_true", help="print the plan and exit without collecting"
    )
    parser.add_argument(
        "--no-analyze", action="store_true", help="do not start jobs.analyze for new articles"
    )
    add_common_args(parser)
    args = parser.parse_args(argv)
    if args.cycle_s is not None and not args.cycle_s > 0:
        parser.error("--cycle-s: give a number of seconds > 0")
    return args


def trigger_analysis(settings: Any, tickers: list[str], trace_id: str) -> str | None:
    """Submit `jobs.analyze` for the instruments that received new articles; its job id."""
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(settings.dashboard_url).submit_job(
            entrypoint=f"python -m jobs.analyze --tickers {','.join(tickers)} --window 7d "
            f"--trace-id {trace_id}",
            metadata={"trigger": "collect", "trace_id": trace_id},
        )
    except Exception as exc:  # collection succeeded; a failed trigger is reported, not fatal
        print(f"{PROG}: could not start jobs.analyze: {type(exc).__name__}: {exc}", flush=True)
        return None


async def _record(dsn: str, kind: str, trace_id: str, params: dict, outcome) -> None:
    conn = await connect(dsn)
    try:
        run_id = await job_runs.start_run(conn, kind, trace_id, params)
        summary = await outcome(conn, run_id)
        status = "succeeded" if not summary["failed"] else "failed"
        error = "; ".join(f"{k}: {v}" for k, v in summary["failed"].items()) or None
        await job_runs.finish_run(conn, run_id, status, summary["counts"], error)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0 on full success, 1 if any instrument failed, 2 on bad arguments."""
    args = parse_args(argv)
    settings = load_job_settings(PROG)
    try:
        instruments = instruments_arg(settings, args.tickers)
        capabilities = capabilities_arg(args.capabilities, Capability)
    except UsageError as exc:
        usage_error(PROG, str(exc))
    trace_id = args.trace_id or new_trace_id()
    job_logging(settings, trace_id, "collect")
    params = {
        "tickers": [i.id for i in instruments],
        "capabilities": [c.value for c in capabilities],
        "interval": args.interval,
        "cycle_s": args.cycle_s,
    }
    connect_cluster()
    from actors.providers import router_handle

    health = ray.get(router_handle().health.remote())
    by_id = {i.id: i for i in instruments}
    now = datetime.now(UTC)
    summary: dict[str, Any] = {}

    async def run(conn: Any, run_id: Any) -> dict[str, Any]:
        work = await stalest_first(conn, settings, instruments, capabilities, args.interval)
        plan = make_plan(settings, work, health, args.interval, args.cycle_s)
        for line in plan.describe():
            print(f"{PROG}: {line}", flush=True)
        summary.update(kind="collect", run_id=str(run_id), trace_id=trace_id,
                       instruments=len(instruments), plan=plan.summary())  # fmt: skip
        if args.plan_only:
            summary.update(counts=Counts().as_dict(), failed={}, elapsed_s=0.0)
            return summary
        started = time.monotonic()
        total, failed, fresh = Counts(), {}, set()
        progress = Progress(PROG, len(plan.units))

        def submit(unit: Unit) -> Any:
            chosen = [by_id[i] for i in unit.instrument_ids]
            return collect_unit.remote(unit, chosen, args.interval, now, trace_id)

        for unit, result in run_units(submit, plan.units, lambda p: in_flight(settings, p)):
            rows = 0
            if isinstance(result, Exception):
                for iid in unit.instrument_ids:
                    failed.setdefault(iid, {})[unit.capability.value] = describe_error(result)
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
            step = {"kind": "collect", "run_id": str(run_id), "trace_id": trace_id,
                    "done": progress.done, "total": progress.total, "counts": total.as_dict(),
                    "last": ",".join(unit.instrument_ids[:3])}  # fmt: skip
            await record_progress(conn, run_id, step)  # GET /status reads it from the row
            await publish("job.progress", step)
        elapsed = time.monotonic() - started
        fresh_ids = [i.id for i in instruments if i.id in fresh]
        analyze_job = (
            trigger_analysis(settings, fresh_ids, trace_id)
            if fresh_ids and not args.no_analyze
            else None
        )
        summary.update(analyze_job=analyze_job, counts=total.as_dict(), failed=failed,
                       elapsed_s=round(elapsed, 2))  # fmt: skip
        return summary

    asyncio.run(_record(settings.database_url.get_secret_value(), "collect", trace_id, params, run))
    summary_line(summary)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

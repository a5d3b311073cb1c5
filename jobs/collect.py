"""`python -m jobs.collect`: fetch each instrument's new data since its watermark and store it.

    python -m jobs.collect [--tickers AAPL,MSFT|us] [--capabilities prices,news,disclosures]
                           [--interval 1d] [--trace-id ID]

One Ray task per instrument; the provider actors' limiters pace the calls. Each instrument
publishes a `collected` event; the run is one `job_runs` row with counts fetched, unique,
saved. Exit 0 when every instrument succeeded, 1 otherwise (the summary names them).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
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
from core.storage import job_runs, watermarks
from core.storage.db import connect
from core.storage.lake import Lake
from jobs.common import (
    TASK_SCHEDULING,
    UsageError,
    add_common_args,
    capabilities_arg,
    connect_cluster,
    describe_error,
    in_flight_for,
    instruments_arg,
    job_logging,
    load_job_settings,
    new_trace_id,
    run_bounded,
    summary_line,
    task_logging,
    usage_error,
)

PROG = "jobs.collect"
MAX_ARTICLE_EVENTS = 20  # per instrument and run; a first collection may save hundreds
log = logging.getLogger("stockray.jobs.collect")


def serves(settings: Any, capability: Capability, instrument: Instrument) -> bool:
    """Disclosure providers key on their own codes: skip instruments without one."""
    if capability is not Capability.DISCLOSURES:
        return True
    names = settings.providers.capabilities.get(capability, [])
    return any(name in instrument.symbols for name in names)


async def _collect(
    instrument: Instrument, capabilities: list[Capability], interval: str, now: datetime
) -> dict[str, Any]:
    from actors.dedupe import make_dedupe
    from actors.providers import router_handle

    settings = load_settings()
    router = router_handle()
    lake = Lake(settings.home / "lake")
    dedupe = await make_dedupe(settings)
    conn = await connect(settings.database_url.get_secret_value())
    counts, errors, served_by, new_articles = Counts(), {}, {}, 0
    events: list[tuple[str, dict[str, Any]]] = []
    try:
        for capability in capabilities:
            if not serves(settings, capability, instrument):
                continue
            key = watermark_key(capability, interval)
            start, end = collect_window(
                capability, await watermarks.latest(conn, instrument.id, key), now, interval
            )
            try:
                if capability is Capability.PRICES:
                    routed = await router.fetch_bars.remote(instrument, start, end, interval)
                    saved = await save_prices(conn, lake, routed.result, end)
                    counts += saved
                    if saved.saved:
                        events.append(("bar", _bar_event(routed.result.bars, interval)))
                elif capability is Capability.NEWS:
                    routed = await router.fetch_news.remote(instrument, start, end)
                    fresh: list[Any] = []
                    news = await save_news(
                        conn, lake, instrument.id, routed.provider, routed.result, dedupe,
                        fresh_out=fresh,
                    )  # fmt: skip
                    newest = sorted(fresh, key=lambda a: a.published_at, reverse=True)
                    events += [("article", _article_event(a)) for a in newest[:MAX_ARTICLE_EVENTS]]
                    counts += news
                    new_articles = news.saved
                else:
                    routed = await router.fetch_disclosures.remote(instrument, start, end)
                    counts += await save_disclosures(
                        conn, instrument.id, routed.provider, routed.result
                    )
                served_by[capability.value] = routed.provider
            except ProviderError as err:  # this capability failed; the others go on
                errors[capability.value] = str(err)
                log.warning(
                    "%s failed: %s", capability.value, err,
                    extra={"provider": getattr(err, "provider", None), "status": "failed"},
                )  # fmt: skip
    finally:
        await conn.close()
    result = {
        "instrument": instrument.id,
        "counts": counts.as_dict(),
        "providers": served_by,
        "errors": errors,
        "new_articles": new_articles,
    }
    for kind, payload in events:  # after the rows are committed
        await publish(kind, payload, instrument.id)
    await publish("collected", result, instrument.id)
    log.info(
        "collected %s via %s", counts.as_dict(), served_by,
        extra={"status": "partial" if errors else "ok"},
    )  # fmt: skip
    return result


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
def collect_instrument(
    instrument: Instrument,
    capabilities: list[Capability],
    interval: str,
    now: datetime,
    trace_id: str,
) -> dict[str, Any]:
    """Collect one instrument (a Ray task)."""
    with task_logging(trace_id, "collect", instrument.id):
        return asyncio.run(_collect(instrument, capabilities, interval, now))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.split("\n")[0])
    parser.add_argument("--tickers", help="comma-separated ids or watchlist groups (default: all)")
    parser.add_argument("--capabilities", default="prices,news,disclosures")
    parser.add_argument("--interval", default="1d", help="bar interval for prices")
    parser.add_argument(
        "--no-analyze", action="store_true", help="do not start jobs.analyze for new articles"
    )
    add_common_args(parser)
    return parser.parse_args(argv)


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
        summary = await outcome(run_id)
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
    analyze = not args.no_analyze
    params = {
        "tickers": [i.id for i in instruments],
        "capabilities": [c.value for c in capabilities],
        "interval": args.interval,
    }
    connect_cluster()
    now = datetime.now(UTC)
    summary: dict[str, Any] = {}

    async def run(run_id) -> dict[str, Any]:
        total, failed, per_instrument, done = Counts(), {}, {}, 0
        items = run_bounded(
            lambda i: collect_instrument.remote(i, capabilities, args.interval, now, trace_id),
            instruments,
            in_flight_for(settings, capabilities),
        )
        for instrument, result in items:
            if isinstance(result, Exception):
                failed[instrument.id] = describe_error(result)
                continue
            total += Counts(**result["counts"])
            per_instrument[instrument.id] = result
            if result["errors"]:
                failed[instrument.id] = result["errors"]
            print(f"{PROG}: {instrument.id} {result['counts']} via {result['providers']}")
            done += 1
            await publish(
                "job.progress",
                {"kind": "collect", "run_id": str(run_id), "trace_id": trace_id,
                 "done": done, "total": len(instruments), "counts": total.as_dict(),
                 "last": instrument.id},
            )  # fmt: skip
        fresh = [i for i, r in per_instrument.items() if r["new_articles"]]
        analyze_job = trigger_analysis(settings, fresh, trace_id) if fresh and analyze else None
        summary.update(
            analyze_job=analyze_job,
            kind="collect",
            run_id=str(run_id),
            trace_id=trace_id,
            counts=total.as_dict(),
            failed=failed,
            instruments=len(instruments),
        )
        return summary

    asyncio.run(_record(settings.database_url.get_secret_value(), "collect", trace_id, params, run))
    summary_line(summary)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Chaos under load: `python -m bench.chaos [--seconds 60]`.

Starts a whole stack (`stockray up` with the sim) in a temp home on free ports, runs
collect + backfill + analyze with REST load and WebSocket clients, and kills in turn a
provider actor, the LLM gateway, a backfill worker, an API replica, Redis (skipped: the
stack runs none unless STOCKRAY_REDIS_URL is set) and Postgres (stop, then start). Then it
re-runs the jobs and checks the database against the sim's truth. Progress lines, then one
JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._chaos_faults import (
    crash_actor,
    kill_api_replica,
    kill_backfill_worker,
    restart_postgres,
)
from bench._chaos_load import WsFleet, run_api_load
from bench._chaos_stack import ChaosStack, sql_rows
from bench._chaos_truth import (
    articles_lost,
    budget_overspend,
    day_bounds,
    expected_bars,
    stored_bars,
    truth_stories,
    watchlist,
)
from core.jobs import AnalyzeRequest, BackfillRequest, CollectRequest, JobRequest

# NewsAPI's developer plan reaches back 30 days (core/providers/newsapi.py): a recent week.
NEWS_WINDOW = tuple((datetime.now(UTC).date() - timedelta(days=d)).isoformat() for d in (9, 3))
PRICES_END = "2023-12-31"
YAHOO_RPS = 5  # configs/providers.yaml: the backfill's pace, so it outlasts the window


def _log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _job_args(tickers: str, seconds: float) -> dict[str, JobRequest]:
    # 30-day chunks at Yahoo's 5 requests/s: enough years that the backfill is still
    # running when its worker is killed, and ends within a few windows.
    ids = tickers.split(",")
    years = max(2, math.ceil(seconds * YAHOO_RPS * 1.5 / (12.2 * len(ids))))
    first = f"{int(PRICES_END[:4]) - years + 1}-01-01"
    return {
        "backfill_prices": BackfillRequest(
            tickers=ids, start=first, end=PRICES_END, capabilities=["prices"], chunk_days=30
        ),
        "backfill_news": BackfillRequest(
            tickers=ids, start=NEWS_WINDOW[0], end=NEWS_WINDOW[1], capabilities=["news"]
        ),
        "collect": CollectRequest(),
        "analyze": AnalyzeRequest(window="7d"),
    }


async def _job(stack: ChaosStack, request: JobRequest, timeout_s: float = 900) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        request.module,
        *request.argv(),
        env=stack.job_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        return {"exit": None, "error": f"timed out after {timeout_s}s"}
    summary = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    result: dict[str, Any] = {"exit": proc.returncode}
    if summary:
        parsed = json.loads(summary[-1])
        result.update({k: parsed[k] for k in ("rows", "chunks_failed", "counts") if k in parsed})
    if proc.returncode:
        result["stderr_tail"] = err.decode()[-400:]
    return result


def _faults(stack: ChaosStack, gap_s: float, t0: float) -> dict[str, Any]:
    """The faults, one every `gap_s` (blocking; runs in a thread)."""
    from actors.llm import GATEWAY_NAME
    from actors.providers import provider_actor_name

    def done_chunks() -> int:
        rows = asyncio.run(
            sql_rows(stack.dsn, "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'done'")
        )
        return rows[0]["n"]

    def ready() -> bool:
        return stack.readyz() == 200

    out: dict[str, Any] = {}
    steps = [
        ("provider_actor", lambda: crash_actor(provider_actor_name("yahoo"), "health")),
        ("llm_gateway", lambda: crash_actor(GATEWAY_NAME, "health")),
        ("backfill_worker", lambda: kill_backfill_worker(str(stack.home), done_chunks)),
        ("api_replica", lambda: kill_api_replica("stockray", ready)),
        ("postgres", lambda: restart_postgres(stack.stop_postgres, stack.up, ready)),
    ]
    for name, inject in steps:
        time.sleep(gap_s)
        _log(f"fault: {name}")
        try:
            at = {"at_s": round(time.monotonic() - t0, 1), "at": round(time.time(), 1)}
            out[name] = {**at, **inject()}
        except Exception as exc:  # a fault that could not be injected is reported
            out[name] = {"recovery_s": None, "error": f"{type(exc).__name__}: {exc}"[:300]}
        _log(f"  {name}: {out[name]}")
        if name == "api_replica":
            out["redis"] = {"skipped": "the stack runs no Redis (STOCKRAY_REDIS_URL unset)"}
    return out


async def _window(
    stack: ChaosStack,
    args: argparse.Namespace,
    keys: dict[str, str],
    ids: list[str],
    jobs: dict[str, JobRequest],
) -> dict[str, Any]:
    fleet = WsFleet(stack.api_url, [keys["ws"]], ids, args.ws_clients)
    connect_s = await fleet.open()
    _log(f"{args.ws_clients} WebSocket clients open in {connect_s:.1f}s")
    stop = asyncio.Event()
    spawn = multiprocessing.get_context("spawn")
    load_stop, load_results = spawn.Event(), spawn.Queue()
    loader = spawn.Process(
        target=run_api_load,
        args=(stack.api_url, keys["read"], ids, args.rps, load_stop, load_results),
    )
    loader.start()
    t0 = time.monotonic()
    publisher = asyncio.create_task(fleet.publish(stop, args.publish_rate))

    async def collect_then_analyze() -> dict[str, Any]:
        return {
            "collect": await _job(stack, jobs["collect"]),
            "analyze": await _job(stack, jobs["analyze"]),
        }

    job_tasks = {
        "backfill_prices": asyncio.create_task(_job(stack, jobs["backfill_prices"])),
        "backfill_news": asyncio.create_task(_job(stack, jobs["backfill_news"])),
        "collect_analyze": asyncio.create_task(collect_then_analyze()),
    }
    faults = await asyncio.to_thread(_faults, stack, args.seconds / 6, t0)
    await asyncio.sleep(max(0.0, t0 + args.seconds - time.monotonic()))
    stop.set()
    load_stop.set()
    await publisher
    load = await asyncio.to_thread(load_results.get, True, 120)
    loader.join(30)
    _log("load stopped; draining WebSocket deliveries")
    ws = await fleet.close()
    first_runs = {name: await task for name, task in job_tasks.items()}
    return {
        "faults": faults,
        "load": load,
        "ws": ws,
        "first_runs": first_runs,
        "ws_connect_s": round(connect_s, 1),
        "window_s": round(time.monotonic() - t0, 1),
    }


async def _rerun(stack: ChaosStack, jobs: dict[str, JobRequest]) -> dict[str, Any]:
    out = {}
    for name in ("backfill_prices", "backfill_news", "collect", "analyze"):
        out[name] = await _job(stack, jobs[name])
        _log(f"re-run {name}: {out[name]}")
    return out


async def _check(stack: ChaosStack, jobs: dict[str, JobRequest]) -> dict[str, Any]:
    instruments = watchlist()
    prices = jobs["backfill_prices"]
    first, last = prices.start.isoformat(), prices.end.isoformat()
    start, end = day_bounds(first, last)
    expected = await expected_bars(stack.sim_yahoo, instruments, start, end)
    stored = await stored_bars(stack.dsn, start, end)
    stories = await truth_stories(
        stack.dsn, stack.sim_admin, instruments, *day_bounds(*NEWS_WINDOW)
    )
    return {
        "prices_window": [first, last],
        "rows_expected": sum(expected.values()),
        "rows_stored": sum(n for n, _ in stored.values()),
        "rows_duplicated": sum(d for _, d in stored.values()),
        "rows_by_instrument": {i: [expected[i], stored.get(i, (0, 0))[0]] for i in expected},
        "news_window": list(NEWS_WINDOW),
        **await articles_lost(stack.dsn, stories),
        **await budget_overspend(stack.dsn),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole bench: up, window with faults, re-runs, checks, down."""
    import ray

    stack = ChaosStack({"STOCKRAY_WS_MAX_SOCKETS_PER_KEY": "0", "STOCKRAY_API_RATE_LIMIT": "0"})
    try:
        started = time.monotonic()
        stack.up()
        _log(f"stack up in {time.monotonic() - started:.0f}s (home {stack.home})")
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_ADDRESS"] = stack.gcs_address  # the state API: other heads may run
        ray.init(address=stack.gcs_address, namespace="stockray", log_to_driver=False)
        keys = {"read": stack.key("read", "chaos-load"), "ws": stack.key("read", "chaos-ws")}
        ids = [i.id for i in watchlist()]
        jobs = _job_args(",".join(ids), args.seconds)
        result = asyncio.run(_window(stack, args, keys, ids, jobs))
        result["reruns"] = asyncio.run(_rerun(stack, jobs))
        try:
            result.update(asyncio.run(_check(stack, jobs)))
        except Exception as exc:  # the figures gathered so far are still worth printing
            result["check_error"] = f"{type(exc).__name__}: {exc}"[:500]
        result["replica_exceptions"] = stack.replica_exceptions()
        return result
    finally:
        try:
            import ray

            ray.shutdown()
        finally:
            stack.down(Path(args.keep_logs) if args.keep_logs else None)


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    load, ws = r["load"], r["ws"]
    return {
        "rows_expected": r.get("rows_expected"),
        "rows_stored": r.get("rows_stored"),
        "rows_duplicated": r.get("rows_duplicated"),
        "articles_expected": r.get("articles_expected"),
        "articles_lost": r.get("articles_lost"),
        "api_5xx_other_than_503": load["api_5xx_other_than_503"],
        "ws_events_lost": ws["ws_events_lost"],
        "recovery_s": {
            k: v.get("recovery_s", v.get("skipped") and "skipped") for k, v in r["faults"].items()
        },
        "budget_overspend_usd": r.get("budget_overspend_usd"),
        "api_target_rps": load["api_target_rps"],
        "api_achieved_rps": load["api_achieved_rps"],
        "ws_clients": ws["ws_clients"],
        **{k: v for k, v in r.items() if k not in ("load", "ws")},
        "load": load,
        "ws": ws,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the fault window")
    parser.add_argument("--rps", type=float, default=200.0, help="target REST requests/s")
    parser.add_argument("--ws-clients", type=int, default=500)
    parser.add_argument("--publish-rate", type=float, default=10.0, help="WebSocket events/s")
    parser.add_argument("--keep-logs", help="copy the stack's Ray and stack logs to this dir")
    args = parser.parse_args(argv)
    print(json.dumps(_summary(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A real-size watchlist: `python -m bench.scale`.

Stack A (`stockray up` in a temp home on free ports: the S&P 500 and KOSPI 200 watchlists,
the sim with realistic rate limits, no first collection, schedules off) runs one
`python -m jobs.collect --capabilities prices,news` cycle over the first 70 instruments and
one over all of them, sampling the job driver's and the provider actors' RSS; then reads the
watchlist and bars through the API and straight from Postgres at concurrency 16. Stack B
(defaults, schedules off, empty home) times `stockray up` to the first bar through the API.
Progress on stderr, then one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench._chaos_stack import ChaosStack
from bench._scale_load import api_load, db_load
from bench._scale_measure import clip, ratio
from bench._scale_stack import (
    first_data,
    known_settings,
    log,
    quiet_configs,
    run_cycle,
    up,
    watchlist,
)

SCALE_ENV = {
    "STOCKRAY_WATCHLIST": "sp500,kospi200",
    "STOCKRAY_SIM_LIMITS": "realistic",
    "STOCKRAY_FIRST_COLLECTION": "off",
    "STOCKRAY_API_RATE_LIMIT": "0",  # the load is one key: its request limit measures nothing
}
RSS_PARTS = ("driver_mb", "provider_actors_mb", "task_workers_mb")
CYCLE_FIELDS = ("instruments", "cycle_s", "ideal_s", "cycle_over_ideal", "requests", "http_429",
                "deferred", "failed")  # fmt: skip


def _connect_ray(gcs_address: str) -> None:
    """Connect this process to the stack's head (the state API lists its actors)."""
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_ADDRESS"] = gcs_address  # other heads may run on the machine
    import ray

    ray.init(address=gcs_address, namespace="stockray", log_to_driver=False)


def _disconnect_ray() -> None:
    import ray

    ray.shutdown()
    os.environ.pop("RAY_ADDRESS", None)


def scale_part(args: argparse.Namespace, notes: list[str]) -> dict[str, Any]:
    """Stack A: the two cycles, then the API and its Postgres peer."""
    env = {**SCALE_ENV, "STOCKRAY_WATCHLIST": args.watchlist}
    if not args.watchlist:
        del env["STOCKRAY_WATCHLIST"]
    stack = ChaosStack(env)
    stack.env["STOCKRAY_CONFIG_DIR"] = str(quiet_configs(stack.root))
    notes += [f"{name} is not a setting yet (ignored)" for name in known_settings(env)]
    out: dict[str, Any] = {}
    try:
        ids, groups = watchlist(stack.env)
        log(f"watchlist: {len(ids)} instruments, groups {groups}")
        if len(ids) < 700:
            notes.append(f"the watchlist has {len(ids)} instruments, not 700")
        up_s, key = up(stack)
        log(f"stack A up in {up_s:.0f}s (home {stack.home})")
        _connect_ray(stack.gcs_address)
        small = ids[: args.small]
        runs = [(str(len(ids)), "all")]
        if len(small) < len(ids):
            runs.insert(0, (str(len(small)), ",".join(small)))
        cycles = out["cycles"] = {}  # a cycle that raises leaves the ones before it
        for label, tickers in runs:
            if tickers == "all" and "all" not in groups:
                tickers = ",".join(ids)
            log(f"cycle over {label} instruments (prices, news)")
            cycles[label] = run_cycle(stack, tickers, label, args.cycle_timeout, args.cycle_s)
            log(f"  {json.dumps({k: cycles[label].get(k) for k in (*CYCLE_FIELDS, 'wall_s')})}")
        log(f"API and Postgres reads at concurrency 16, {args.api_seconds:.0f}s each")
        api = asyncio.run(api_load(stack.api_url, key, ids, args.api_seconds))
        api.update(asyncio.run(db_load(stack.dsn, ids, args.api_seconds)))
        out["api"] = api
        log(f"  {json.dumps(api)}")
    except Exception as exc:  # what was measured is still reported
        out["error"] = clip(f"{type(exc).__name__}: {exc}")
        log(f"stack A failed: {out['error']}")
    finally:
        try:
            _disconnect_ray()
        finally:
            log("stack A down")
            stack.down(Path(args.keep_logs) / "a" if args.keep_logs else None)
    return out


def first_data_part(args: argparse.Namespace) -> dict[str, Any]:
    """Stack B: `stockray up` with the defaults (schedules off) on an empty home, to the
    first bar."""
    stack = ChaosStack({"STOCKRAY_FIRST_COLLECTION": "on"})  # the default, said outright
    # No schedule either: a scheduled slot (prices every 15 min) must not pass for the first
    # collection.
    stack.env["STOCKRAY_CONFIG_DIR"] = str(quiet_configs(stack.root))
    try:
        ids, _ = watchlist(stack.env)
        log(f"stack B: `stockray up` on an empty home, polling the bars of {ids}")
        found = first_data(stack, ids, args.first_data_timeout)
        log(f"  {json.dumps(found)}")
        return found
    except Exception as exc:
        return {"first_data_s": None, "error": clip(f"{type(exc).__name__}: {exc}")}
    finally:
        log("stack B down")
        stack.down(Path(args.keep_logs) / "b" if args.keep_logs else None)


def report(scale: dict[str, Any], first: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The JSON line: the headline figures (the full-size cycle's), then the detail."""
    cycles = scale.get("cycles") or {}
    labels = sorted(cycles, key=int)
    big = cycles[labels[-1]] if labels else {}
    small = cycles[labels[0]] if len(labels) > 1 else {}
    rss = {label: c.get("peak_rss") or {} for label, c in cycles.items()}
    api = scale.get("api") or {}
    out: dict[str, Any] = {k: big.get(k) for k in CYCLE_FIELDS}
    out["peak_rss_mb"] = {
        label: {k: r.get(k) for k in (*RSS_PARTS, "total_mb")} for label, r in rss.items()
    }
    out["peak_pg_connections"] = {k: c.get("peak_pg_connections") for k, c in cycles.items()}
    if small:
        s_rss, b_rss = small.get("peak_rss") or {}, big.get("peak_rss") or {}
        out["rss_ratio_700_over_70"] = ratio(b_rss.get("total_mb"), s_rss.get("total_mb"))
        out["rss_ratios"] = {k: ratio(b_rss.get(k), s_rss.get(k)) for k in RSS_PARTS}
    for name in ("watchlist", "bars"):
        out[f"{name}_p99_ms"] = api.get(f"{name}_p99_ms")
        out[f"{name}_uncached_p99_ms"] = api.get(f"{name}_uncached_p99_ms")
        out[f"db_{name}_p99_ms"] = db = api.get(f"db_{name}_p99_ms")
        out[f"{name}_p99_over_db"] = ratio(api.get(f"{name}_uncached_p99_ms"), db)
    out["first_data_s"] = first.get("first_data_s")
    for label, cycle in cycles.items():
        if cycle.get("cycle_s") is None:
            notes.append(f"cycle {label}: the job's summary has no elapsed_s/plan")
    if not first.get("up_printed_key", True):
        notes.append("stack B: `up` printed no admin key (a read key was created after it)")
    out.update(cycles=cycles, api=api, first_data=first)
    if scale.get("error"):
        out["error"] = scale["error"]
    out["notes"] = notes
    return out


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # the stacks' `finally` still runs


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run both parts, print the JSON line."""
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument(
        "--watchlist",
        default=SCALE_ENV["STOCKRAY_WATCHLIST"],
        help="STOCKRAY_WATCHLIST of stack A ('' = the shipped default)",
    )
    parser.add_argument("--small", type=int, default=70, help="instruments of the small cycle")
    parser.add_argument("--cycle-timeout", type=float, default=1500.0, help="per cycle (s)")
    parser.add_argument(
        "--cycle-s", type=float, help="passed to jobs.collect (default: a one-off cycle)"
    )
    parser.add_argument("--api-seconds", type=float, default=15.0, help="load per route (s)")
    parser.add_argument("--first-data-timeout", type=float, default=300.0)
    parser.add_argument("--only", choices=("scale", "first-data"), help="run one part")
    parser.add_argument("--keep-logs", help="copy the stacks' Ray and stack logs to this dir")
    args = parser.parse_args(argv)
    started, notes = time.monotonic(), []
    scale = scale_part(args, notes) if args.only != "first-data" else {}
    first = first_data_part(args) if args.only != "scale" else {}
    result = report(scale, first, notes)
    result["bench_s"] = round(time.monotonic() - started)
    print(json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Provider throughput and failover: stockray's one-owner limiter against per-worker limiters.

    python -m bench.providers [--limit-rps 25] [--duration-s 30] [--symbols 300]
                              [--only saturation|peer|failover ...]

1. Saturation: three driver tasks fetch bars for `--symbols` symbols through the
   ProviderRouter and the one Yahoo provider actor, while the sim enforces `limit_rps`
   (429 above it). Peer: three workers, each with its own in-process limiter set to the
   provider's limit (Celery's per-worker `rate_limit`), calling the same client directly.
2. Failover: steady traffic at 60% of the limit; the primary is refused for 8 s, then
   comes back. The saturation figures are counted by the sim over a steady window after
   a warm-up (Ray starting the driver workers), not from process start.

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import ray

from core.errors import RateLimited
from core.models import Instrument
from core.providers import YahooClient
from core.resilience import LocalRateLimiter, Window
from sim.server import SimServer

# Windows within the last 100 sessions: what the fallback (Alpha Vantage's free plan,
# outputsize=compact) serves. Older windows would be a PlanLimit there, or on premium a
# full-history payload (1.4 MB) the sim builds at ~5/s, so no fallback could answer.
START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=120)
COOLDOWN_S = 5.0
IN_FLIGHT_PER_DRIVER = 8
WARMUP_S = 5.0  # Ray starts the driver tasks' workers; counting starts after this
FAILOVER_LOAD = 0.6  # share of the limit offered during the failover run
PARTS = ("saturation", "peer", "failover")


def _instrument(symbol: str) -> Instrument:
    return Instrument(symbol, symbol, "NASDAQ", "USD", "America/New_York", {})


def _window(i: int) -> tuple[datetime, datetime]:
    # Different windows per request so nothing is cached anywhere along the way.
    start = START + timedelta(days=3 * (i % 24))
    return start, start + timedelta(days=30)


def _providers_yaml(limit_rps: int) -> dict[str, Any]:
    retry = {"max_attempts": 2, "base_delay_s": 0.05, "max_delay_s": 0.2, "deadline_s": 60}
    circuit = {"failure_threshold": 5, "cooldown_s": COOLDOWN_S}
    common = {"timeout_s": 5, "retry": retry, "circuit": circuit}
    return {
        "providers": {
            "yahoo": {
                "base_url": "https://query1.finance.yahoo.com",
                "needs_key": False,
                "limits": [{"requests": limit_rps, "per_s": 1}],
                **common,
            },
            "alphavantage": {
                "base_url": "https://www.alphavantage.co",
                "limits": [{"requests": 1000, "per_s": 1}],
                **common,
            },
            "newsapi": {"base_url": "https://newsapi.org", **common},
            "dart": {"base_url": "https://opendart.fss.or.kr", **common},
        },
        "capabilities": {"prices": ["yahoo", "alphavantage"], "news": ["newsapi"],
                         "disclosures": ["dart"]},
    }  # fmt: skip


@ray.remote(num_cpus=0)
def project_driver(
    offset: int, symbols: list[str], until: float, rate: float | None = None
) -> list[tuple]:
    """Router calls until `until`; (t0, t1, provider|error) each.

    Closed loop (IN_FLIGHT_PER_DRIVER outstanding) by default; with `rate`, open loop at
    `rate` calls/s, so latency is not inflated by our own queueing.
    """
    from actors.providers import router_handle

    router = router_handle()
    pending: dict[ray.ObjectRef, float] = {}
    done: list[tuple] = []
    i = offset
    next_at = time.time()
    while True:
        while time.time() < until and (
            (rate is None and len(pending) < IN_FLIGHT_PER_DRIVER)
            or (rate is not None and time.time() >= next_at)
        ):
            start, end = _window(i)
            ref = router.fetch_bars.remote(_instrument(symbols[i % len(symbols)]), start, end)
            pending[ref] = time.time()
            i += 3
            next_at += 1 / rate if rate else 0
        if not pending:
            if time.time() >= until:
                return done
            time.sleep(max(0.0, next_at - time.time()))
            continue
        timeout = None if rate is None else max(0.0, next_at - time.time())
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=timeout)
        if not ready:
            continue
        t0 = pending.pop(ready[0])
        try:
            outcome = ray.get(ready[0]).provider
        except Exception as exc:  # the figure counts failures; keep the kind
            cause = getattr(exc, "cause", None) or exc  # RayTaskError wraps the typed error
            outcome = f"error:{type(cause).__name__}"
        done.append((t0, time.time(), outcome))


@ray.remote(num_cpus=0)
def peer_worker(offset: int, symbols: list[str], until: float, url: str, limit: int) -> int:
    """Celery-style worker: its own limiter at the provider's limit; retry after a 429."""

    async def run() -> int:
        client = YahooClient(url, timeout_s=5)
        limiter = LocalRateLimiter("yahoo", [Window(limit, 1.0)])
        ok = 0

        async def one(i: int) -> None:
            nonlocal ok
            start, end = _window(i)
            while time.time() < until:
                await limiter.acquire()
                try:
                    await client.fetch_bars(_instrument(symbols[i % len(symbols)]), start, end)
                    ok += 1
                    return
                except RateLimited as err:
                    await asyncio.sleep(err.retry_after or 1.0)  # Celery autoretry countdown

        async def lane(k: int) -> None:
            i = offset + 3 * k
            while time.time() < until:
                await one(i)
                i += 3 * IN_FLIGHT_PER_DRIVER

        await asyncio.gather(*(lane(k) for k in range(IN_FLIGHT_PER_DRIVER)))
        await client.aclose()
        return ok

    return asyncio.run(run())


def _yahoo(sim: SimServer) -> dict[str, int]:
    return sim.stats()["yahoo"]


def _steady_window(sim: SimServer, refs: list, t0: float, duration: float) -> dict[str, float]:
    """Sim counters over [t0 + WARMUP_S, t0 + WARMUP_S + duration]: workers are running."""
    time.sleep(max(0.0, t0 + WARMUP_S - time.time()))
    before, start = _yahoo(sim), time.time()
    time.sleep(max(0.0, start + duration - time.time()))
    after, elapsed = _yahoo(sim), time.time() - start
    ray.get(refs)
    return {
        "rps": (after["admitted"] - before["admitted"]) / elapsed,
        "http_429": after["limited"] - before["limited"],
    }


def measure_saturation(sim: SimServer, symbols: list[str], limit: int, duration: float) -> dict:
    """Project: three drivers through the router; the sim's own counters are the truth."""
    from actors.providers import router_handle

    ray.get(router_handle().health.remote())  # actors up before the clock starts
    sim.set_faults("yahoo", {"rate_limit": {"limit": limit, "window_s": 1, "style": "http429"}})
    t0 = time.time()
    until = t0 + WARMUP_S + duration
    refs = [project_driver.remote(k, symbols, until) for k in range(3)]
    seen = _steady_window(sim, refs, t0, duration)
    calls = [c for run in ray.get(refs) for c in run]
    return {
        "limit_rps": limit,
        "achieved_rps": round(seen["rps"], 2),
        "saturation": round(seen["rps"] / limit, 3),
        "http_429": seen["http_429"],
        "project_requests": len(calls),
        "project_errors": sum(1 for c in calls if c[2].startswith("error")),
    }


def measure_peer(sim: SimServer, symbols: list[str], limit: int, duration: float) -> dict:
    """Peer: three workers each limited to the provider's limit on their own."""
    sim.set_faults("yahoo", {"rate_limit": {"limit": limit, "window_s": 1, "style": "http429"}})
    t0 = time.time()
    until, url = t0 + WARMUP_S + duration, sim.urls["yahoo"]
    refs = [peer_worker.remote(k, symbols, until, url, limit) for k in range(3)]
    seen = _steady_window(sim, refs, t0, duration)
    return {
        "peer_achieved_rps": round(seen["rps"], 2),
        "peer_saturation": round(seen["rps"] / limit, 3),
        "peer_http_429": seen["http_429"],
    }


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


def measure_failover(
    sim: SimServer, symbols: list[str], limit: int, baseline_s: float, outage_s: float
) -> dict[str, Any]:
    """Primary refused mid-run then back, under load below the limit: success rate,
    added p99 latency over the baseline, time until traffic is back on the primary."""
    sim.clear_faults()
    t0 = time.time()
    total = WARMUP_S + baseline_s + outage_s + COOLDOWN_S + 8
    rate = FAILOVER_LOAD * limit / 3
    runs = [project_driver.remote(k, symbols, t0 + total, rate) for k in range(3)]
    time.sleep(WARMUP_S + baseline_s)
    outage_at = time.time()
    sim.set_faults("yahoo", {"outage": {"mode": "refuse", "duration_s": outage_s}})
    back_at = outage_at + outage_s
    calls = [c for run in ray.get(runs) for c in run]
    ok = [c for c in calls if not c[2].startswith("error")]
    base = [c[1] - c[0] for c in calls if t0 + WARMUP_S <= c[0] and c[1] < outage_at]
    during = [c[1] - c[0] for c in calls if outage_at <= c[0] < back_at]
    returned = [c[1] for c in ok if c[2] == "yahoo" and c[0] >= back_at]
    served_by = {p: sum(1 for c in ok if c[2] == p) for p in {c[2] for c in ok}}
    failures = Counter(c[2].removeprefix("error:") for c in calls if c[2].startswith("error"))
    return {
        "failover_requests": len(calls),
        "failover_success_rate": round(len(ok) / len(calls), 4) if calls else 0.0,
        "failover_p99_added_ms": round((_p99(during) - _p99(base)) * 1000, 1),
        "recovery_s": round(min(returned) - back_at, 2) if returned else None,
        "recovery_goal_s": COOLDOWN_S + 1,
        "failover_served_by": served_by,
        "failover_failures": dict(failures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.providers")
    parser.add_argument("--limit-rps", type=int, default=25)
    parser.add_argument("--duration-s", type=float, default=30)
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="run only this part (repeatable)"
    )
    args = parser.parse_args()
    from bench._cluster import ray_cluster

    symbols = [f"SIM{n:04d}" for n in range(1, args.symbols + 1)]
    with SimServer(seed=7, extra_symbols=args.symbols, in_process=False) as sim:
        env = {f"STOCKRAY_PROVIDER_URLS__{p.upper()}": u for p, u in sim.urls.items()}
        env |= {f"STOCKRAY_PROVIDER_KEYS__{p.upper()}": "bench-key" for p in sim.urls}
        env["STOCKRAY_SIM"] = "off"
        with ray_cluster(env, {"providers": _providers_yaml(args.limit_rps)}):
            figures: dict[str, Any] = {}
            parts = args.only or PARTS
            if "saturation" in parts:
                print(f"saturation: {args.duration_s:.0f}s through the router ...", flush=True)
                figures |= measure_saturation(sim, symbols, args.limit_rps, args.duration_s)
                print(json.dumps(figures), flush=True)
            if "peer" in parts:
                print(f"peer: {args.duration_s:.0f}s of per-worker limiters ...", flush=True)
                figures |= measure_peer(sim, symbols, args.limit_rps, args.duration_s)
            if "failover" in parts:
                print("failover: primary refused for 8 s ...", flush=True)
                figures |= measure_failover(sim, symbols, args.limit_rps, baseline_s=6, outage_s=8)
    figures["cpus"] = os.cpu_count()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

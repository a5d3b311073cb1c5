"""The backfill part of `bench.ingest`: many instruments x years through a rate-limited sim."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from bench._cluster import ray_cluster
from bench._stack import EmbeddedPostgres
from core.jobs import BackfillRequest
from core.models import Instrument
from sim.server import SimServer

RETRY = {"max_attempts": 4, "base_delay_s": 0.2, "max_delay_s": 2, "deadline_s": 120}


def _instruments(count: int) -> list[Instrument]:
    return [
        Instrument(f"SIM{n:04d}", f"Sim {n}", "NASDAQ", "USD", "America/New_York", {})
        for n in range(1, count + 1)
    ]


def _configs(instruments: list[Instrument], limit_rps: int) -> dict[str, dict]:
    watchlist = {
        "instruments": [
            {"id": i.id, "name": i.name, "exchange": i.exchange, "currency": i.currency,
             "timezone": i.timezone, "symbols": {"yahoo": i.id}}
            for i in instruments
        ]
    }  # fmt: skip
    provider = {
        "timeout_s": 10,
        "retry": RETRY,
        "circuit": {"failure_threshold": 5, "cooldown_s": 5},
    }
    providers = {
        "providers": {
            "yahoo": {
                "base_url": "https://query1.finance.yahoo.com",
                "needs_key": False,
                "limits": [{"requests": limit_rps, "per_s": 1}],
                **provider,
            },
            "dart": {"base_url": "https://opendart.fss.or.kr", **provider},
        },
        "capabilities": {"prices": ["yahoo"], "news": [], "disclosures": ["dart"]},
    }
    return {"watchlist": watchlist, "providers": providers, "schedules": {"schedules": []}}


class _AdmissionClock:
    """Samples the sim's admitted count, to time the span during which requests flowed."""

    def __init__(self, sim: SimServer) -> None:
        self.sim, self.samples = sim, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self.sim.stats()["yahoo"]["admitted"]))
            time.sleep(0.25)

    def __enter__(self) -> _AdmissionClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def rate(self) -> tuple[int, float]:
        """(requests admitted, requests/s between the first and the last admission)."""
        base = self.samples[0][1]
        moving = [(t, n) for t, n in self.samples if n > base]
        total = self.samples[-1][1] - base
        first = next(t for t, n in self.samples if n > base)
        last = next(t for t, n in self.samples if n == self.samples[-1][1])
        return total, (total - 1) / max(last - first, 1e-9) if moving else 0.0


def measure_backfill(
    pg: EmbeddedPostgres, instruments: int = 50, years: int = 10, limit_rps: int = 10
) -> dict[str, Any]:
    """Backfill `instruments` x `years` of daily bars through a sim limited to `limit_rps`."""
    chosen = _instruments(instruments)
    dsn = asyncio.run(pg.fresh_database("bench_backfill", chosen))
    with SimServer(seed=7, extra_symbols=instruments, in_process=False) as sim:
        sim.set_faults(
            "yahoo", {"rate_limit": {"limit": limit_rps, "window_s": 1, "style": "http429"}}
        )
        env = {
            "STOCKRAY_DATABASE_URL": dsn,
            "STOCKRAY_PROVIDER_URLS__YAHOO": sim.urls["yahoo"],
            "STOCKRAY_PROVIDER_URLS__DART": sim.urls["dart"],
            "STOCKRAY_SIM": "off",
        }
        with ray_cluster(env, _configs(chosen, limit_rps)) as cluster:
            request = BackfillRequest(
                tickers=[i.id for i in chosen], start=f"{2024 - years + 1}-01-01", end="2024-12-31"
            )
            args = [sys.executable, "-m", request.module, *request.argv()]
            job_env = {
                **os.environ,
                **env,
                "RAY_ADDRESS": cluster.gcs_address,
                "STOCKRAY_CONFIG_DIR": str(cluster.config_dir),
            }
            before = sim.stats()["yahoo"]
            started = time.time()
            with _AdmissionClock(sim) as clock:
                done = subprocess.run(args, env=job_env, capture_output=True, text=True)
            elapsed = time.time() - started
            after = sim.stats()["yahoo"]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"backfill failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(lines[-1])
    admitted, rps = clock.rate()
    return {
        "backfill_instruments": instruments,
        "backfill_years": years,
        "backfill_chunks": summary["chunks_total"],
        "backfill_rows": summary["rows"],
        "backfill_rows_per_s": round(summary["rows"] / elapsed, 1),
        "backfill_limit_rps": limit_rps,
        "backfill_achieved_rps": round(rps, 2),
        "backfill_saturation": round(rps / limit_rps, 3),
        "backfill_http_429": after["limited"] - before["limited"],
        "backfill_elapsed_s": round(elapsed, 1),
        "backfill_requests": admitted,
    }

"""Serve benchmark: the REST API through Ray Serve against the same app under plain uvicorn.

`python -m bench.serve` starts an embedded Postgres filled from the simulator (bars, news,
lexicon analyses and a report for a few instruments), a Ray head configured as `stockray up`
configures it, the Serve app from `serve.yaml`, and the same FastAPI app under uvicorn (one
worker) on the same database. It drives both with the same mix of authenticated GETs at
concurrency 32, alternating rounds so a busy neighbour slows both alike, then measures the
WebSocket fan-out (`bench._ws`). The last line printed is one JSON object with all figures.

`--ray-env KEY=VALUE` (repeatable) overrides the head's Serve environment, to compare
ingress options side by side: e.g. `--ray-env RAY_SERVE_ENABLE_HA_PROXY=0`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench._cluster import ray_cluster
from bench._stack import EmbeddedPostgres, embedded_postgres
from cluster import ray_head, serve_deploy
from configs.settings import PACKAGE_CONFIG_DIR, load_settings
from core.models import Instrument

CONCURRENCY = 32
ROUND_S = 10.0
WARMUP_S = 30.0  # > two autoscaling metric pushes (10 s each) + upscale delay
INSTRUMENTS = ("AAPL", "MSFT", "NVDA")
START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)
# Both hosts read with the same settings: the per-key rate limit would answer most of the
# benchmark's requests with 429, which measures nothing.
# No per-key request limit and no per-key socket cap: the load and the 1,000 sockets all use
# one key, which the limits would (rightly) stop.
APP_ENV = {"STOCKRAY_API_RATE_LIMIT": "0", "STOCKRAY_WS_MAX_SOCKETS_PER_KEY": "0"}
WS_INSTRUMENTS = [f"WSB-{i:03d}" for i in range(100)]  # /ws takes watchlist ids only


def log(message: str) -> None:
    """A human progress line (the JSON line comes last on stdout)."""
    print(f"[serve] {message}", flush=True)


def request_mix() -> list[str]:
    """The GETs each load worker cycles through: instruments, bars, news, analysis."""
    window = f"start={START.isoformat()}&end={END.isoformat()}".replace("+", "%2B")
    paths = ["/api/v1/instruments"]
    for inst in INSTRUMENTS:
        paths += [
            f"/api/v1/instruments/{inst}/bars?{window}",
            f"/api/v1/instruments/{inst}/news?limit=20",
            f"/api/v1/instruments/{inst}/analysis?days=3650",
        ]
    return paths


# -- data ------------------------------------------------------------------------------------


async def _fill(dsn: str, sim_urls: dict[str, str]) -> str:
    """Bars, news, analyses and a report per instrument; returns a new read key."""
    from core.analysis.pipeline import analyze_articles, write_report
    from core.collection import save_news
    from core.providers import NewsApiClient, YahooClient
    from core.storage.api_keys import create_key
    from core.storage.db import connect
    from core.storage.dedupe import MemoryDedupe
    from core.storage.writers import write_bars

    settings = load_settings(database_url=dsn)
    instruments = {i.id: i.to_instrument() for i in settings.watchlist.instruments}
    yahoo = YahooClient(sim_urls["yahoo"])
    newsapi = NewsApiClient(sim_urls["newsapi"], api_key="bench")
    conn = await connect(dsn)
    try:
        for inst_id in INSTRUMENTS:
            inst = instruments[inst_id]
            await write_bars(conn, (await yahoo.fetch_bars(inst, START, END)).bars)
            articles = await newsapi.fetch_news(inst, START, END, limit=100)
            await save_news(conn, None, inst_id, "newsapi", articles, MemoryDedupe(60))
            await analyze_articles(conn, inst, START, END, None, "en")
            await write_report(conn, inst, START, END, "180d", None, "en")
        _, key = await create_key(conn, "bench", "read")
    finally:
        await conn.close()
        await yahoo.aclose()
        await newsapi.aclose()
    return key


async def prepare_database(pg: EmbeddedPostgres) -> tuple[str, str]:
    """A migrated database with the watchlist and sim data; returns (dsn, read key)."""
    from sim.server import SimServer

    settings = load_settings()
    instruments = [i.to_instrument() for i in settings.watchlist.instruments]
    instruments += [
        Instrument(name, f"WebSocket bench {name}", "NASDAQ", "USD", "America/New_York")
        for name in WS_INSTRUMENTS
    ]
    dsn = await pg.fresh_database("bench_serve", instruments)
    with SimServer(seed=7, watchlist_path=PACKAGE_CONFIG_DIR / "watchlist.yaml") as sim:
        key = await _fill(dsn, sim.urls)
    return dsn, key


# -- hosts -----------------------------------------------------------------------------------


def peer_app() -> Any:
    """The peer: the same FastAPI app under plain uvicorn (`uvicorn --factory`)."""
    from serve_app.app import build_api
    from serve_app.context import AppContext

    app = build_api()
    app.state.context = AppContext(load_settings())
    return app


@contextmanager
def uvicorn_peer(env: dict[str, str]) -> Iterator[str]:
    """Run `peer_app` under uvicorn (one worker, its defaults: uvloop + httptools)."""
    port = ray_head.free_port()
    args = [
        sys.executable, "-m", "uvicorn", "--factory", "bench.serve:peer_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    proc = subprocess.Popen(args, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        serve_deploy.wait_ready(url, timeout_s=60)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def deploy_serve(config_dir: Path, env: dict[str, str]) -> tuple[str, str]:
    """Deploy serve.yaml (as `stockray up` does) on a free port; return the API and
    dashboard URLs."""
    import ray

    settings = load_settings(config_dir=config_dir, api_port=ray_head.free_port())
    dashboard = "http://" + ray._private.worker.get_dashboard_url()
    serve_deploy.deploy(dashboard, serve_deploy.serve_config(settings, env))
    serve_deploy.wait_ready(settings.api_url, timeout_s=180)
    return settings.api_url, dashboard


def wait_settled(dashboard: str, timeout_s: float = 120) -> dict[str, int]:
    """Wait until autoscaling has acted on the warm-up load (every deployment HEALTHY, no
    replica starting); return the running replicas per deployment."""
    deadline = time.monotonic() + timeout_s
    while True:
        deployments = next(iter(serve_deploy.applications(dashboard).values()))["deployments"]
        states = {n: [r["state"] for r in d["replicas"]] for n, d in deployments.items()}
        if all(
            d["status"] == "HEALTHY" and set(states[n]) == {"RUNNING"}
            for n, d in deployments.items()
        ):
            return {n: len(s) for n, s in states.items()}
        if time.monotonic() > deadline:
            raise RuntimeError(f"Serve did not settle: {states}")
        time.sleep(1)


# -- load ------------------------------------------------------------------------------------


@dataclass
class Sample:
    """Latencies (seconds) of successful requests, failures by kind, and time spent."""

    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, other: Sample) -> None:
        """Merge another round into this one."""
        self.latencies += other.latencies
        self.seconds += other.seconds
        for kind, n in other.failures.items():
            self.failures[kind] = self.failures.get(kind, 0) + n

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def p99_ms(self) -> float:
        """99th-percentile latency of successful requests, in ms."""
        ordered = sorted(self.latencies)
        return ordered[int(0.99 * (len(ordered) - 1))] * 1000 if ordered else 0.0


async def drive(base_url: str, key: str, seconds: float, concurrency: int = CONCURRENCY) -> Sample:
    """`concurrency` workers cycling through `request_mix()` for `seconds`."""
    paths, sample = request_mix(), Sample()
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)

    async def worker(offset: int, session: aiohttp.ClientSession, deadline: float) -> None:
        i = offset
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                async with session.get(base_url + paths[i % len(paths)]) as resp:
                    await resp.read()
                    ok = resp.status == 200
                    kind = str(resp.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                ok, kind = False, type(exc).__name__
            if ok:
                sample.latencies.append(time.perf_counter() - start)
            else:
                sample.failures[kind] = sample.failures.get(kind, 0) + 1
            i += 1

    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout
    ) as session:
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(worker(n, session, deadline) for n in range(concurrency)))
        sample.seconds = time.perf_counter() - start
    return sample


async def compare(
    project_url: str, peer_url: str, dashboard: str, key: str, total_s: float
) -> dict[str, Any]:
    """Alternate project and peer rounds until each has run `total_s`; return the figures."""
    # Warm pools and caches on both; the project's load also lets autoscaling act first,
    # so no replica starts (and takes the CPU) while either side is measured.
    await drive(project_url, key, WARMUP_S)
    replicas = await asyncio.to_thread(wait_settled, dashboard)
    log(f"replicas after warm-up: {replicas}")
    await drive(peer_url, key, 2.0)
    project, peer = Sample(), Sample()
    rounds = max(2, round(total_s / ROUND_S))
    for n in range(rounds):
        order = [(project, project_url), (peer, peer_url)]
        for sample, url in order if n % 2 == 0 else reversed(order):
            sample.add(await drive(url, key, total_s / rounds))
        log(f"round {n + 1}/{rounds}: project {project.rps:,.0f} rps, peer {peer.rps:,.0f} rps")
    return {
        "replicas": replicas["Api"],
        "project_rps": round(project.rps, 1),
        "project_p99_ms": round(project.p99_ms, 1),
        "project_failed": sum(project.failures.values()),
        "peer_rps": round(peer.rps, 1),
        "peer_p99_ms": round(peer.p99_ms, 1),
        "peer_failed": sum(peer.failures.values()),
        "ratio": round(project.rps / peer.rps, 3) if peer.rps else 0.0,
        "failures": {"project": project.failures, "peer": peer.failures},
    }


def _check_mix(url: str, key: str) -> None:
    """Every path of the mix answers 200 with a body (the benchmark measures real reads)."""
    headers = {"Authorization": f"Bearer {key}"}
    for path in request_mix():
        resp = httpx.get(url + path, headers=headers, timeout=30)
        if resp.status_code != 200 or not resp.content:
            raise RuntimeError(f"{url}{path} answered {resp.status_code}: {resp.text[:200]}")


async def _check_ws(url: str, key: str, timeout_s: float = 90.0) -> None:
    """`/ws` through this host accepts the key and answers a subscription."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    ws_url = url.replace("http://", "ws://", 1) + f"/ws?key={key}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            async with connect(ws_url) as ws:
                await ws.send(json.dumps({"type": "subscribe", "instruments": ["AAPL"]}))
                while True:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if reply.get("type") == "subscribed":
                        return
        except (ConnectionClosed, OSError) as exc:  # 1013 until the replica's feed is up
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ws_url.split('?')[0]}: no subscription ({exc})") from None
            await asyncio.sleep(1)


# -- main ------------------------------------------------------------------------------------


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--ray-env wants KEY=VALUE, got {pair!r}")
        env[name] = value
    return env


def main() -> None:
    """Run the benchmark; print progress and, last, one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load time per host")
    parser.add_argument("--ray-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-ws", action="store_true", help="skip the WebSocket figures")
    args = parser.parse_args()
    overrides = _parse_env(args.ray_env)
    result: dict[str, Any] = {"concurrency": CONCURRENCY, "ray_env": overrides}
    with embedded_postgres() as pg:
        dsn, key = asyncio.run(prepare_database(pg))
        app_env = {**APP_ENV, "STOCKRAY_DATABASE_URL": dsn}
        with ray_cluster({**app_env, **overrides}) as cluster:
            log("deploying serve.yaml")
            api_url, dashboard = deploy_serve(cluster.config_dir, {})
            peer_env = {**app_env, "STOCKRAY_CONFIG_DIR": str(cluster.config_dir)}
            with uvicorn_peer(peer_env) as peer_url:
                _check_mix(api_url, key)
                _check_mix(peer_url, key)
                asyncio.run(_check_ws(api_url, key))  # the ingress carries WebSockets too
                log(f"project {api_url} vs peer {peer_url}, {CONCURRENCY} concurrent")
                result.update(asyncio.run(compare(api_url, peer_url, dashboard, key, args.seconds)))
            if not args.no_ws:
                from bench._ws import measure_ws

                log("WebSocket fan-out")
                result.update(
                    asyncio.run(
                        measure_ws(
                            api_url,
                            key,
                            clients=1000,
                            rate=100.0,
                            duration_s=30.0,
                            instruments=WS_INSTRUMENTS,
                        )
                    )
                )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

"""The API under Ray Serve scales with load and survives losing a replica.

Real Serve on the session's cluster (with the ingress `stockray up` uses), real Postgres,
load as real HTTP through Serve's ingress on an authenticated endpoint that reads Postgres.
Each test deploys the app under its own name and route prefix and deletes it after.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cluster import serve_deploy
from cluster.ray_head import auth_headers, free_port
from configs.settings import load_settings
from core.providers import YahooClient
from core.storage.api_keys import create_key
from core.storage.db import connect, sync_instruments
from core.storage.migrations import migrate
from core.storage.writers import write_bars
from sim.server import SimServer

pytestmark = pytest.mark.timeout(600)
START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)
RETRY_BACKOFF_S = 0.5
BARS = "/api/v1/instruments/AAPL/bars?start=2024-01-01T00:00:00Z&end=2024-07-01T00:00:00Z"


@dataclass(frozen=True)
class Db:
    """A database with AAPL's bars, and a read key for it."""

    dsn: str
    key: str


@pytest.fixture
async def db(fresh_dsn: str, sim: SimServer) -> Db:
    """A migrated database holding half a year of AAPL bars from the sim."""
    sim.clear_faults()
    settings = load_settings(database_url=fresh_dsn)
    instruments = {i.id: i.to_instrument() for i in settings.watchlist.instruments}
    conn = await connect(fresh_dsn)
    yahoo = YahooClient(sim.urls["yahoo"])
    try:
        await migrate(conn)
        await sync_instruments(conn, instruments.values())
        await write_bars(conn, (await yahoo.fetch_bars(instruments["AAPL"], START, END)).bars)
        _, key = await create_key(conn, "scaling", "read")
    finally:
        await yahoo.aclose()
        await conn.close()
    return Db(fresh_dsn, key)


def _serve_port(dashboard_url: str) -> int:
    """The port of Serve's HTTP ingress (another test may have started Serve first)."""
    resp = httpx.get(dashboard_url + serve_deploy.APPS_PATH, headers=auth_headers(), timeout=10)
    return int(resp.json()["http_options"]["port"])


def _running_replicas(name: str) -> int:
    from ray import serve

    status = serve.status().applications.get(name)
    if status is None or "Api" not in status.deployments:
        return 0
    return status.deployments["Api"].replica_states.get("RUNNING", 0)


def _wait(what: str, check: Callable[[], bool], timeout_s: float) -> float:
    """Poll `check` until true; return seconds waited or fail naming `what`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


@pytest.fixture
def deploy(ray_cluster, db: Db) -> Iterator[Callable[..., str]]:
    """Deploy the API (with its Chat) under a unique name; yields `deploy(**Api options)`
    returning the app's base URL; the app is deleted after the test."""
    from ray import serve

    from serve_app import chat
    from serve_app.app import Api

    serve.start(http_options={"host": "127.0.0.1", "port": free_port()})
    port = _serve_port(ray_cluster.dashboard_url)
    name = f"scale_{uuid.uuid4().hex[:8]}"
    # Rate limits off: the load here is one key far above any sane per-key limit.
    env = {"STOCKRAY_DATABASE_URL": db.dsn, "STOCKRAY_API_RATE_LIMIT": "0"}
    actor = {"num_cpus": 0, "runtime_env": {"env_vars": env}}

    def run(**options: Any) -> str:
        api = Api.options(ray_actor_options=actor, **options)
        app = api.bind(chat.Chat.options(ray_actor_options={"num_cpus": 0}).bind())
        serve.run(app, name=name, route_prefix=f"/{name}", blocking=False)
        url = f"http://127.0.0.1:{port}/{name}"
        _wait(f"{name} running", lambda: serve.status().applications[name].status == "RUNNING",
              180)  # fmt: skip
        serve_deploy.wait_ready(url, timeout_s=60)
        return url

    yield run
    serve.delete(name)


@dataclass
class Load:
    """Outcome of a load run: every first attempt's result by kind, and after one retry."""

    first: Counter = field(default_factory=Counter)
    final: Counter = field(default_factory=Counter)
    ok_at: list[float] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Requests that still failed after the client's one retry."""
        return sum(n for kind, n in self.final.items() if kind != "200")


async def _get(http: httpx.AsyncClient, url: str) -> str:
    try:
        resp = await http.get(url)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    if resp.status_code == 200 and not resp.json()["bars"]:
        return "empty"
    return str(resp.status_code)


async def drive(
    url: str,
    key: str,
    workers: int,
    stop: asyncio.Event,
    pause_s: float = 0,
    fresh: bool = False,
) -> Load:
    """`workers` clients GETting bars until `stop`; a failed GET is retried once after a
    short back-off (GETs are idempotent), as a well-behaved client does. `fresh`: each GET
    new to the replica's read cache (same rows), so every one costs a database read."""
    load = Load()
    headers = {"Authorization": f"Bearer {key}"}
    sent = itertools.count()

    def target() -> str:
        if not fresh:
            return url + BARS
        n = next(sent) % 3600
        return url + BARS.replace("T00:00:00Z", f"T00:{n // 60:02d}:{n % 60:02d}Z")

    async def client(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            path = target()
            kind = await _get(http, path)
            load.first[kind] += 1
            if kind != "200":
                # Serve's router may still pick the killed replica for a moment after its
                # death (the proxy answers 500 for it); a client backs off before retrying.
                await asyncio.sleep(RETRY_BACKOFF_S)
                kind = await _get(http, path)
            load.final[kind] += 1
            if kind == "200":
                load.ok_at.append(time.monotonic())
            await asyncio.sleep(pause_s)

    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        await asyncio.gather(*(client(http) for _ in range(workers)))
    return load


async def test_autoscales_up_under_load_and_down_without_failed_requests(deploy, db: Db) -> None:
    name_url = await asyncio.to_thread(
        deploy,
        max_ongoing_requests=8,
        graceful_shutdown_timeout_s=10,
        autoscaling_config={
            "min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 1,
            "upscale_delay_s": 1, "downscale_delay_s": 3,
            "look_back_period_s": 2,
        },
    )  # fmt: skip
    name = name_url.rsplit("/", 1)[1]
    assert _running_replicas(name) == 1

    stop = asyncio.Event()
    # Load the replica must work for: cached answers (and keys) take it too little time to
    # keep one request in flight, which is what the autoscaler counts.
    heavy = asyncio.create_task(drive(name_url, db.key, workers=12, stop=stop, fresh=True))
    waited = await asyncio.to_thread(_wait, "2 replicas", lambda: _running_replicas(name) >= 2, 90)
    stop.set()
    up = await heavy

    # A trickle keeps requests in flight while the extra replica drains and stops.
    stop = asyncio.Event()
    trickle = asyncio.create_task(drive(name_url, db.key, workers=2, stop=stop, pause_s=0.05))
    await asyncio.to_thread(_wait, "1 replica", lambda: _running_replicas(name) == 1, 180)
    await asyncio.to_thread(_wait, "the old replica gone", lambda: _replica_count(name) == 1, 120)
    await asyncio.sleep(2)
    stop.set()
    down = await trickle

    assert waited < 90 and up.first["200"] > 50
    # Scale-down is invisible to clients: no request failed, not even before its retry.
    assert down.final == Counter({"200": down.final["200"]}) and down.final["200"] > 20
    assert down.first == down.final
    assert up.failed == 0


def _replica_actors(name: str) -> list[Any]:
    from ray.util.state import list_actors

    return list_actors(
        filters=[("class_name", "=", f"ServeReplica:{name}:Api"), ("state", "=", "ALIVE")]
    )


def _replica_count(name: str) -> int:
    return len(_replica_actors(name))


async def test_killing_a_replica_under_load_loses_only_in_flight_requests(deploy, db: Db) -> None:
    import ray

    url = await asyncio.to_thread(deploy, num_replicas=2, max_ongoing_requests=8)
    name = url.rsplit("/", 1)[1]
    stop = asyncio.Event()
    workers = 8
    load = asyncio.create_task(drive(url, db.key, workers=workers, stop=stop))
    await asyncio.sleep(3)
    victim = _replica_actors(name)[0]
    ray.kill(ray.get_actor(victim.name, namespace="serve"), no_restart=True)
    killed_at = time.monotonic()
    await asyncio.sleep(10)
    await asyncio.to_thread(_wait, "a replacement replica", lambda: _running_replicas(name) == 2,
                            120)  # fmt: skip
    await asyncio.sleep(3)
    stop.set()
    seen = await load

    # A client sees at most the requests in flight on the killed replica fail (a 5xx or a
    # dropped connection); new requests go to the survivor, and a retry of a failed GET
    # succeeds.
    first_failures = sum(n for kind, n in seen.first.items() if kind != "200")
    assert first_failures <= workers, seen.first
    assert seen.failed == 0, seen.final
    after_kill = [t for t in seen.ok_at if t > killed_at]
    assert len(after_kill) > 50
    # No gap: the survivor kept answering within a second of the kill.
    assert min(after_kill) - killed_at < 1.0

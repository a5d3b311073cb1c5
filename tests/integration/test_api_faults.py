"""Faults answered honestly, each against the real component stopped or blocked: Postgres
stopped mid-query (a Postgres of the test's own), a query killed, a locked table, Redis
stopped (a redis-server of the test's own), the Jobs API unreachable; bad dates and NUL
bytes; the read cache's key and byte bound."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from cluster.ray_head import free_port
from configs.settings import load_settings
from core.models import Bar
from core.storage import api_keys
from core.storage.api_keys import create_key
from core.storage.db import connect, sync_instruments
from core.storage.migrations import migrate
from core.storage.writers import write_bars
from core.wait import apoll
from serve_app.app import build_api
from serve_app.context import AppContext
from serve_app.errors import RETRY_AFTER_S
from tests.support import wait_for_port

START = datetime(2024, 1, 1, tzinfo=UTC)
BARS = "/api/v1/instruments/AAPL/bars?start=2024-01-01T00:00:00Z&end=2024-03-01T00:00:00Z"
DEADLINE_S = 60.0
WAITING_ON_BARS = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'bars'::regclass"


def bars_from(day: int) -> str:
    """Bars from 2024-01-`day`: a window of its own, so its own cache entry."""
    return BARS.replace("2024-01-01T", f"2024-01-{day:02d}T")


async def seed(dsn: str) -> dict[str, str]:
    """Migrate `dsn`, add the watchlist and 60 daily AAPL bars; return keys by name."""
    api_keys.clear_cache()
    settings = load_settings(database_url=dsn)
    conn = await connect(dsn)
    try:
        await migrate(conn)
        await sync_instruments(conn, [i.to_instrument() for i in settings.watchlist.instruments])
        bars = [
            Bar("AAPL", "1d", START + timedelta(days=i), 1.0, 2.0, 0.5, 1.5, 100, "yahoo")
            for i in range(60)
        ]
        await write_bars(conn, bars)
        return {name: (await create_key(conn, name, scope))[1] for name, scope in
                [("alice", "read"), ("bob", "read"), ("root", "admin")]}  # fmt: skip
    finally:
        await conn.close()


@asynccontextmanager
async def api(dsn: str, **overrides: Any) -> AsyncIterator[tuple[httpx.AsyncClient, AppContext]]:
    """An HTTP client on a fresh app (its own context) with `overrides` in the settings."""
    settings = load_settings(database_url=dsn, **overrides)
    app = build_api(settings)
    app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            yield http, app.state.context
    finally:
        await app.state.context.close()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def wait_until(probe: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll `probe` until it returns something truthy; fail after `DEADLINE_S`."""
    if result := await apoll(probe, timeout_s=DEADLINE_S):
        return result
    raise AssertionError(f"not within {DEADLINE_S}s: {what}")


def assert_unavailable(answer: httpx.Response, code: str) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == code
    assert set(answer.json()["error"]) == {"code", "message", "details"}
    assert answer.headers["Retry-After"] == str(RETRY_AFTER_S)


# -- Postgres -------------------------------------------------------------------------------


class StoppablePostgres:
    """A pgserver of this test's own, stopped and started in place (same socket, same DSN)."""

    def __init__(self, root: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver
            from pgserver import _commands

        self._pg_ctl = _commands.pg_ctl
        self.server = pgserver.get_server(root / "data", cleanup_mode="delete")
        self._socket_dir = self.server.get_postmaster_info().socket_dir
        self.dsn = self.server.get_uri()

    def _ctl(self, args: list[str]) -> None:
        self._pg_ctl(args, pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)

    def stop(self) -> None:
        """Fast shutdown: open sessions are terminated, as in a restart or a crash."""
        self._ctl(["-w", "-m", "fast", "stop"])

    def start(self) -> None:
        """Start it again on the same socket (pgserver's own options)."""
        self._ctl(["-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}",
                   "-l", str(self.server.log), "start"])  # fmt: skip

    def close(self) -> None:
        """Stop it and delete its data."""
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        self.server.cleanup()


@pytest.fixture
def own_postgres() -> Iterator[StoppablePostgres]:
    root = Path(tempfile.mkdtemp(prefix="srpgf"))
    server = StoppablePostgres(root)
    try:
        yield server
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)


async def test_postgres_stopped_mid_query_is_a_503_until_it_is_back(own_postgres) -> None:
    dsn = own_postgres.dsn
    keys = await seed(dsn)
    async with api(dsn, db_command_timeout_s=60) as (http, _):
        assert (await http.get(BARS, headers=auth(keys["alice"]))).status_code == 200
        locker = await connect(dsn)
        await locker.execute("BEGIN; LOCK TABLE bars IN ACCESS EXCLUSIVE MODE")
        reading = asyncio.create_task(http.get(bars_from(2), headers=auth(keys["alice"])))
        await wait_until(lambda: locker.fetchval(WAITING_ON_BARS), "a read waits on bars")
        await asyncio.to_thread(own_postgres.stop)  # the read is mid-query
        assert_unavailable(await reading, "database_unavailable")
        locker.terminate()

        # A read the replica's cache cannot answer (BARS itself is cached, with alice's key
        # recently verified, and may be served from there while Postgres is down).
        down = await http.get(bars_from(4), headers=auth(keys["alice"]))
        assert_unavailable(down, "database_unavailable")
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
        async with api(dsn) as (fresh, _):  # a replica whose pool is made while it is down
            first = await fresh.get(BARS, headers=auth(keys["bob"]))
            assert_unavailable(first, "database_unavailable")

            await asyncio.to_thread(own_postgres.start)

            async def serves(client: httpx.AsyncClient) -> bool:
                answer = await client.get(bars_from(3), headers=auth(keys["bob"]))
                return answer.status_code == 200

            await wait_until(lambda: serves(http), "the first replica serves again")
            await wait_until(lambda: serves(fresh), "the second replica serves again")
        assert (await http.get("/readyz")).json()["status"] == "ready"


async def test_a_query_killed_midway_is_a_503_and_the_pool_reconnects(fresh_dsn: str) -> None:
    keys = await seed(fresh_dsn)
    async with api(fresh_dsn, db_command_timeout_s=60) as (http, _):
        assert (await http.get(BARS, headers=auth(keys["alice"]))).status_code == 200
        locker = await connect(fresh_dsn)
        try:
            await locker.execute("BEGIN; LOCK TABLE bars IN ACCESS EXCLUSIVE MODE")
            reading = asyncio.create_task(http.get(bars_from(2), headers=auth(keys["alice"])))
            await wait_until(lambda: locker.fetchval(WAITING_ON_BARS), "a read waits on bars")
            await locker.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE NOT granted AND relation = 'bars'::regclass"
            )
            assert_unavailable(await reading, "database_unavailable")
            await locker.execute("ROLLBACK")
        finally:
            await locker.close()
        assert (await http.get(bars_from(2), headers=auth(keys["alice"]))).status_code == 200


async def test_a_locked_table_times_out_with_503s_and_frees_the_pool(fresh_dsn: str) -> None:
    keys = await seed(fresh_dsn)
    settings = {"db_command_timeout_s": 1, "db_acquire_timeout_s": 1, "api_rate_limit": 0}
    async with api(fresh_dsn, **settings) as (http, _):
        alice = auth(keys["alice"])
        assert (await http.get("/api/v1/instruments", headers=alice)).status_code == 200
        locker = await connect(fresh_dsn)
        try:
            await locker.execute("BEGIN; LOCK TABLE bars IN ACCESS EXCLUSIVE MODE")
            began = time.monotonic()
            # more reads than the replica's 8 connections: some wait for one, none for ever
            answers = await asyncio.gather(
                *(http.get(bars_from(day), headers=alice) for day in range(1, 13))
            )
            elapsed = time.monotonic() - began
            for answer in answers:
                assert_unavailable(answer, "database_unavailable")
            assert elapsed < 15, elapsed  # about acquire + command timeout, not for ever
            # the timed-out queries were cancelled and their connections are free again
            assert (await http.get("/api/v1/instruments", headers=alice)).status_code == 200
            await locker.execute("ROLLBACK")
        finally:
            await locker.close()
        assert (await http.get(bars_from(1), headers=alice)).status_code == 200


# -- Redis ----------------------------------------------------------------------------------


class StoppableRedis:
    """A redis-server of this test's own, stopped and started again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port, self._workdir = free_port(), workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        """Start it (empty: nothing is saved)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (the test command installs it)")
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)

    def stop(self) -> None:
        """Terminate it and wait until it has exited."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[StoppableRedis]:
    server = StoppableRedis(tmp_path)
    yield server
    server.stop()


async def test_redis_stopped_the_replica_falls_back_and_says_degraded(
    fresh_dsn: str, own_redis: StoppableRedis
) -> None:
    keys = await seed(fresh_dsn)
    alice = auth(keys["alice"])
    async with api(fresh_dsn, redis_url=own_redis.url, api_rate_limit=3) as (http, ctx):
        ctx.redis_fallback.retry_s = 1.0  # try Redis again sooner than in production
        ready = await http.get("/readyz")
        assert ready.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}
        assert (await http.get(BARS, headers=alice)).headers["X-Cache"] == "miss"

        own_redis.stop()
        # the replica's own limit (3 a minute, counted afresh) and cache take over
        answers = [await http.get(BARS, headers=alice) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers.get("X-Cache") for a in answers[:3]] == ["miss", "hit", "hit"]
        wrong = await http.get(BARS, headers=auth(keys["alice"][:-4] + "AAAA"))
        assert wrong.status_code == 401  # failed attempts are counted locally too
        degraded = await http.get("/readyz")
        assert degraded.status_code == 200, degraded.text
        body = degraded.json()
        assert body["status"] == "degraded" and body["checks"]["postgres"] == "ok"
        assert body["checks"]["redis"].startswith("error")

        own_redis.start()

        async def ready_again() -> bool:
            return (await http.get("/readyz")).json()["status"] == "ready"

        await wait_until(ready_again, "readiness says ready once Redis is back")

        async def tried_again() -> bool:
            return ctx.redis_fallback.up

        await wait_until(tried_again, "the replica tries Redis again")
        assert (await http.get(bars_from(5), headers=auth(keys["bob"]))).status_code == 200
        check = aioredis.from_url(own_redis.url)
        try:
            assert await check.keys("stockray:cache:*"), "the entry went to Redis again"
            assert await check.keys("stockray:api-limit:*"), "the limit is counted in Redis"
        finally:
            await check.aclose()


# -- Ray Jobs API ---------------------------------------------------------------------------


class _JobsStub(BaseHTTPRequestHandler):
    """A Jobs API that knows no jobs: the version check, then 404 for every job."""

    def do_GET(self) -> None:
        if self.path == "/api/version":
            body = json.dumps({"version": "4", "ray_version": "2.60.0", "ray_commit": ""})
            self.send_response(200)
        else:
            body = "no such job"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


async def test_jobs_api_unreachable_is_a_503_until_it_answers(fresh_dsn: str) -> None:
    keys = await seed(fresh_dsn)
    port = free_port()  # nothing listens there
    async with api(fresh_dsn, dashboard_port=port) as (http, _):
        job = "/api/v1/jobs/raysubmit_abc"
        assert_unavailable(await http.get(job, headers=auth(keys["alice"])), "jobs_unavailable")
        backfill = {"tickers": ["AAPL"], "start": "2024-01-01", "end": "2024-01-31"}
        submitted = await http.post(
            "/api/v1/jobs/backfill", json=backfill, headers=auth(keys["root"])
        )
        assert_unavailable(submitted, "jobs_unavailable")

        stub = ThreadingHTTPServer(("127.0.0.1", port), _JobsStub)
        threading.Thread(target=stub.serve_forever, daemon=True).start()
        try:
            found = await http.get(job, headers=auth(keys["alice"]))
            assert found.status_code == 404 and found.json()["error"]["code"] == "not_found"
        finally:
            stub.shutdown()
            stub.server_close()


# -- parameters -----------------------------------------------------------------------------


@pytest.fixture
async def app(fresh_dsn: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    keys = await seed(fresh_dsn)
    async with api(fresh_dsn, api_rate_limit=0) as (http, _):
        yield http, keys


OUT_OF_RANGE = [
    "/api/v1/instruments/AAPL/bars?start=9999-12-31T00:00:00Z",
    "/api/v1/instruments/AAPL/bars?end=0001-01-01T00:00:00Z",  # a year's window before it
    "/api/v1/instruments/AAPL/bars?end=9999-12-31T23:59:59-05:00",  # past 9999 in UTC
    "/api/v1/instruments/AAPL/bars?start=0000-01-01T00:00:00Z",  # year 0
    "/api/v1/costs?to=0001-01-01",  # a month's window before it
    "/api/v1/costs?from=9999-12-31&to=9999-12-31",
]
WITH_NUL = [
    ("/api/v1/instruments/AA%00PL/bars", "path.instrument_id"),
    ("/api/v1/instruments/AAPL/bars?interval=1%00d", "query.interval"),
    ("/api/v1/instruments/AAPL/news?cursor=%00", "query.cursor"),
    ("/api/v1/reports?instrument=AAPL%00", "query.instrument"),
    ("/api/v1/jobs?kind=collect%00", "query.kind"),
    ("/api/v1/jobs/raysubmit%00abc", "path.job_id"),
]


@pytest.mark.parametrize("url", OUT_OF_RANGE)
async def test_dates_out_of_range_are_a_422(app, url: str) -> None:
    http, keys = app
    answer = await http.get(url, headers=auth(keys["alice"]))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(("url", "field"), WITH_NUL)
async def test_nul_bytes_in_parameters_are_a_422(app, url: str, field: str) -> None:
    http, keys = app
    answer = await http.get(url, headers=auth(keys["alice"]))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and error["details"][0]["field"] == field


async def test_a_cursor_out_of_range_is_a_400(app) -> None:
    http, keys = app
    for text in ("0001-01-01T00:00:00+05:00|x", "2024-01-01T00:00:00|x", "2024-01-01T00:00Z|\0"):
        cursor = base64.urlsafe_b64encode(text.encode()).decode()
        answer = await http.get(
            f"/api/v1/instruments/AAPL/news?cursor={cursor}", headers=auth(keys["alice"])
        )
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_cursor"


# -- the read cache -------------------------------------------------------------------------


async def test_cache_keys_hold_only_declared_parameters(app) -> None:
    http, keys = app
    alice = auth(keys["alice"])
    assert (await http.get(BARS + "&junk=1", headers=alice)).headers["X-Cache"] == "miss"
    for extra in ("&junk=2", "&other=3&junk=4", ""):
        assert (await http.get(BARS + extra, headers=alice)).headers["X-Cache"] == "hit"
    made_up = {**alice, "Accept": "application/x-anything"}
    assert (await http.get(BARS, headers=made_up)).headers["X-Cache"] == "hit"  # JSON either way
    csv = {**alice, "Accept": "text/csv"}
    assert (await http.get(BARS, headers=csv)).headers["X-Cache"] == "miss"  # a format of its own
    assert (await http.get(BARS, headers=csv)).headers["X-Cache"] == "hit"


async def test_the_read_cache_is_bounded_by_bytes(fresh_dsn: str) -> None:
    keys = await seed(fresh_dsn)
    alice = auth(keys["alice"])
    bound = 40_000  # about four windows of this series
    async with api(fresh_dsn, api_cache_max_bytes=bound, api_rate_limit=0) as (http, ctx):
        for day in range(1, 29):
            assert (await http.get(bars_from(day), headers=alice)).status_code == 200
            assert ctx.cache.local_bytes <= bound
        assert 0 < len(ctx.cache) < 28
        assert (await http.get(bars_from(28), headers=alice)).headers["X-Cache"] == "hit"
        assert (await http.get(bars_from(1), headers=alice)).headers["X-Cache"] == "miss"
    async with api(fresh_dsn, api_cache_max_bytes=4096) as (http, ctx):  # a body over 1 KiB
        for _ in range(2):
            assert (await http.get(BARS, headers=alice)).headers["X-Cache"] == "miss"
        assert len(ctx.cache) == 0 and ctx.cache.local_bytes == 0

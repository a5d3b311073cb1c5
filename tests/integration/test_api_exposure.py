"""What the API exposes: security headers on every answer, and /metrics behind its token,
served from gauges computed in the background (a scrape runs no SQL). In-process, over
`httpx.ASGITransport`, against a real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from configs.settings import load_settings
from core.storage.migrations import migrate
from core.wait import apoll
from serve_app.app import build_api
from serve_app.context import AppContext

TOKEN = "exposure-token-0123456789abcdef"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}
# One refresh of the Postgres gauges: watermarks, job-run tallies, today's budget, today's
# calls, the newest backup of each kind.
QUERIES_PER_REFRESH = 5


@asynccontextmanager
async def api(
    client: tuple[str, int] = ("127.0.0.1", 5000), scheme: str = "http", **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = load_settings(**overrides)
    app = build_api(settings)
    app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app, client=client, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://api") as http:
            yield http, app
    finally:
        await app.state.context.close()


def _security_headers(answer: httpx.Response) -> None:
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["referrer-policy"] == "no-referrer"


async def test_every_answer_has_the_security_headers() -> None:
    async with api() as (http, app):

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("unhandled")

        answers = [
            await http.get("/healthz"),
            await http.get("/no/such/path"),  # 404 in the error shape
            await http.get("/api/v1/instruments"),  # 401: no key
            await http.get("/metrics"),  # 403: no token set
            await http.get("/boom"),  # Starlette's own plain 500
            await http.get("/docs"),
        ]
        for answer in answers:
            _security_headers(answer)
            assert "strict-transport-security" not in answer.headers  # plain HTTP
        assert [a.status_code for a in answers] == [200, 404, 401, 403, 500, 200]
        # /docs loads Swagger UI from its CDN with an inline script: only framing is limited.
        assert answers[-1].headers["content-security-policy"] == "frame-ancestors 'none'"


async def test_the_dashboard_keeps_its_own_csp_that_lets_its_files_load() -> None:
    async with api() as (http, _):
        page = await http.get("/")
        script = await http.get("/static/app.js")
        style = await http.get("/static/style.css")
    for answer in (page, script, style):
        assert answer.status_code == 200
        _security_headers(answer)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert len(answer.headers.get_list("content-security-policy")) == 1  # not two policies


async def test_hsts_only_over_tls_or_from_a_trusted_proxy() -> None:
    proto = {"X-Forwarded-Proto": "https"}
    async with api(scheme="https") as (http, _):
        assert "max-age=" in (await http.get("/healthz")).headers["strict-transport-security"]
    async with api() as (http, _):  # HAProxy on loopback says the client used TLS
        assert "strict-transport-security" in (await http.get("/healthz", headers=proto)).headers
    async with api(client=("203.0.113.9", 4000)) as (http, _):  # a client saying so
        assert (
            "strict-transport-security" not in (await http.get("/healthz", headers=proto)).headers
        )
    async with api(client=("10.0.0.5", 4000), trusted_proxies=["10.0.0.0/8"]) as (http, _):
        answer = await http.get("/healthz", headers={"X-Forwarded-Proto": "https, http"})
        assert "strict-transport-security" in answer.headers


class CountingPool:
    """A pool that counts the queries made through it."""

    def __init__(self, pool: Any) -> None:
        self.pool, self.queries = pool, 0

    async def fetch(self, *args: Any) -> Any:
        self.queries += 1
        return await self.pool.fetch(*args)

    async def fetchrow(self, *args: Any) -> Any:
        self.queries += 1
        return await self.pool.fetchrow(*args)


@pytest.fixture
async def metrics_api(fresh_dsn: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any, Any]]:
    async with api(database_url=fresh_dsn, metrics_token=TOKEN, metrics_refresh_s=1) as (
        http,
        app,
    ):
        ctx = app.state.context
        pool = await ctx.pool()
        async with pool.acquire() as conn:
            await migrate(conn)
        counting = CountingPool(pool)

        async def counted_pool() -> CountingPool:
            return counting

        ctx.pool = counted_pool
        ctx.jobs_client = lambda: (_ for _ in ()).throw(RuntimeError("no Jobs API here"))
        yield http, counting, pool


async def test_metrics_need_the_token(metrics_api) -> None:
    http, counting, _ = metrics_api
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": SCRAPE["Authorization"][:-1]},
    ):
        answer = await http.get("/metrics", headers=headers)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert counting.queries == 0  # refused before anything is computed
    assert (await http.get("/metrics", headers=SCRAPE)).status_code == 200


async def test_a_scrape_reads_gauges_computed_in_the_background(metrics_api) -> None:
    http, counting, pool = metrics_api
    first = await http.get("/metrics", headers=SCRAPE)  # the first waits for a computation
    assert first.status_code == 200 and "stockray_llm_budget_usd" in first.text
    after_first = counting.queries
    assert after_first == QUERIES_PER_REFRESH
    for _ in range(5):  # within the refresh interval: served from memory
        assert (await http.get("/metrics", headers=SCRAPE)).status_code == 200
    assert counting.queries == after_first

    await pool.execute(
        "INSERT INTO llm_budget (day, limit_micro) "
        "VALUES ((now() AT TIME ZONE 'UTC')::date, 7000000)"
    )

    async def scrape() -> str:  # a stale set is refreshed behind a scrape
        return (await http.get("/metrics", headers=SCRAPE)).text

    text = await apoll(
        scrape,
        until=lambda page: "stockray_llm_budget_usd 7.0" in page,
        timeout_s=30,
        interval_s=0.2,
    )
    assert "stockray_llm_budget_usd 7.0" in text
    # Each refresh is one set of queries, however many scrapes came in between.
    assert counting.queries % QUERIES_PER_REFRESH == 0 and counting.queries < after_first * 50

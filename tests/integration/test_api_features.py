"""Subscriptions, per-key limits, the read cache, metrics and CORS, through the ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from configs.settings import load_settings
from core.providers import YahooClient
from core.storage.api_keys import create_key
from core.storage.db import connect, sync_instruments
from core.storage.migrations import migrate
from core.storage.writers import write_bars
from serve_app.app import build_api
from serve_app.context import AppContext
from sim.server import SimServer

START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
BARS = "/api/v1/instruments/AAPL/bars?start=2024-01-01T00:00:00Z&end=2024-03-01T00:00:00Z"


@pytest.fixture
async def db(fresh_dsn: str, sim: SimServer) -> AsyncIterator[dict[str, Any]]:
    """A database with the watchlist, AAPL's bars and three keys (two read, one admin)."""
    sim.clear_faults()
    settings = load_settings(database_url=fresh_dsn)
    conn = await connect(fresh_dsn)
    await migrate(conn)
    await sync_instruments(conn, [i.to_instrument() for i in settings.watchlist.instruments])
    yahoo = YahooClient(sim.urls["yahoo"])
    aapl = settings.watchlist.get("AAPL").to_instrument()
    await write_bars(conn, (await yahoo.fetch_bars(aapl, START, END)).bars)
    await yahoo.aclose()
    keys = {name: (await create_key(conn, name, scope))[1] for name, scope in
            [("alice", "read"), ("bob", "read"), ("root", "admin")]}  # fmt: skip
    yield {"dsn": fresh_dsn, "conn": conn, "keys": keys}
    await conn.close()


@asynccontextmanager
async def api(db: dict[str, Any], client: tuple[str, int] = ("127.0.0.1", 5000), **overrides):
    """An HTTP client on a fresh app with `overrides` applied to the settings."""
    settings = load_settings(database_url=db["dsn"], **overrides)
    app = build_api(settings)
    app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app, client=client)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            yield http, app.state.context
    finally:
        await app.state.context.close()


METRICS_TOKEN = "metrics-token-0123456789abcdef"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_subscriptions_belong_to_their_key(db) -> None:
    alice, bob = auth(db["keys"]["alice"]), auth(db["keys"]["bob"])
    async with api(db) as (http, _):
        body = {"instruments": ["MSFT", "AAPL", "AAPL"], "events": ["bar", "report.published"]}
        made = await http.post("/api/v1/subscriptions", json=body, headers=alice)
        assert made.status_code == 201, made.text
        sub = made.json()
        assert sub["instruments"] == ["AAPL", "MSFT"]  # sorted, without repeats
        again = await http.post("/api/v1/subscriptions", json=body, headers=alice)
        assert again.status_code == 200 and again.json()["id"] == sub["id"]  # a retry is safe

        listed = (await http.get("/api/v1/subscriptions", headers=alice)).json()["subscriptions"]
        assert [s["id"] for s in listed] == [sub["id"]]
        assert (await http.get("/api/v1/subscriptions", headers=bob)).json() == {
            "subscriptions": []
        }
        # Another key's subscription does not exist for it: 404 on read and delete (BOLA).
        url = f"/api/v1/subscriptions/{sub['id']}"
        for method in ("GET", "DELETE"):
            answer = await http.request(method, url, headers=bob)
            assert answer.status_code == 404
            assert answer.json()["error"]["code"] == "not_found"
        assert (await http.get(url, headers=alice)).status_code == 200
        assert (await http.delete(url, headers=alice)).status_code == 204
        assert (await http.delete(url, headers=alice)).status_code == 404

        bad = await http.post(
            "/api/v1/subscriptions",
            json={"instruments": ["NOPE"], "events": ["bar", "gossip"]},
            headers=alice,
        )
        assert bad.status_code == 422
        assert bad.json()["error"]["details"][0]["field"].startswith("body.events")
        unknown = await http.post(
            "/api/v1/subscriptions", json={"instruments": ["NOPE"]}, headers=alice
        )
        assert unknown.status_code == 422 and "NOPE" in str(unknown.json()["error"]["details"])
        assert (await http.get("/api/v1/subscriptions")).status_code == 401


async def test_each_key_has_its_own_rate_limit(db) -> None:
    alice, bob = auth(db["keys"]["alice"]), auth(db["keys"]["bob"])
    async with api(db, api_rate_limit=5) as (http, _):
        codes = [(await http.get("/api/v1/instruments", headers=alice)).status_code
                 for _ in range(5)]  # fmt: skip
        assert codes == [200] * 5
        refused = await http.get("/api/v1/instruments", headers=alice)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["error"]["code"] == "rate_limited"
        # Another key is not slowed by alice's use.
        assert (await http.get("/api/v1/instruments", headers=bob)).status_code == 200


async def test_redis_limit_is_shared_by_replicas(db, redis_url: str) -> None:
    alice = auth(db["keys"]["alice"])
    async with (
        api(db, api_rate_limit=4, redis_url=redis_url) as (one, _),
        api(db, api_rate_limit=4, redis_url=redis_url) as (two, _),
    ):
        codes = []
        for i in range(6):  # two replicas, one budget
            codes.append((await (one if i % 2 else two).get("/healthz")).status_code)
            answer = await (one if i % 2 else two).get("/api/v1/instruments", headers=alice)
            codes.append(answer.status_code)
        assert [c for c in codes[1::2]] == [200, 200, 200, 200, 429, 429]


@pytest.mark.parametrize("shared", [False, True], ids=["replica", "redis"])
async def test_hot_reads_are_cached_until_an_event_changes_them(db, shared, request) -> None:
    overrides = {"redis_url": request.getfixturevalue("redis_url")} if shared else {}
    alice = auth(db["keys"]["alice"])
    async with api(db, **overrides) as (http, ctx):
        first = await http.get(BARS, headers=alice)
        assert first.status_code == 200 and first.headers["X-Cache"] == "miss"
        second = await http.get(BARS, headers=alice)
        assert second.headers["X-Cache"] == "hit" and second.content == first.content
        # A CSV read is its own entry; auth still applies to cached reads.
        assert (await http.get(BARS, headers={**alice, "Accept": "text/csv"})).headers[
            "X-Cache"
        ] == "miss"
        assert (await http.get(BARS)).status_code == 401

        # New data for AAPL, then the event the collector publishes for it.
        last = first.json()["bars"][-1]
        await db["conn"].execute(
            "UPDATE bars SET close = close + 1 WHERE instrument_id = 'AAPL' AND ts = $1",
            datetime.fromisoformat(last["ts"]),
        )
        assert (await http.get(BARS, headers=alice)).content == first.content  # still cached
        ctx.on_event({"id": 1, "type": "bar", "instrument": "AAPL", "payload": {}})
        if shared:  # Redis invalidation runs as a task on this loop
            await ctx.cache.settled()
        fresh = await http.get(BARS, headers=alice)
        assert fresh.headers["X-Cache"] == "miss"
        assert fresh.json()["bars"][-1]["close"] == pytest.approx(last["close"] + 1)
        # Another instrument's event leaves AAPL's entry alone.
        ctx.on_event({"id": 2, "type": "bar", "instrument": "MSFT", "payload": {}})
        assert (await http.get(BARS, headers=alice)).headers["X-Cache"] == "hit"


async def test_a_read_racing_an_event_does_not_store_the_old_answer(db) -> None:
    async with api(db) as (_, ctx):
        cache, tags = ctx.cache, ["instrument:AAPL"]
        gens = await cache.generations(tags)  # a read starts...
        cache.on_event({"type": "bar", "instrument": "AAPL"})  # ...the data changes...
        from serve_app.cache import Cached

        await cache.put("k", tags, gens, Cached(b"old", "application/json"))  # ...it finishes
        assert await cache.get("k") is None


async def test_metrics_count_requests_by_route_template(db) -> None:
    alice = auth(db["keys"]["alice"])
    async with api(db, metrics_token=METRICS_TOKEN) as (http, _):
        await http.get(BARS, headers=alice)
        await http.get("/api/v1/instruments/NOPE/bars", headers=alice)
        await http.get("/no/such/path")
        text = (await http.get("/metrics", headers=auth(METRICS_TOKEN))).text
    route = "/api/v1/instruments/{instrument_id}/bars"
    assert f'stockray_http_requests_total{{method="GET",route="{route}",status="200"}}' in text
    assert f'stockray_http_requests_total{{method="GET",route="{route}",status="404"}}' in text
    assert 'route="unmatched"' in text and "NOPE" not in text  # no ids as label values
    assert f'stockray_http_request_seconds_bucket{{le="0.005",route="{route}"}}' in text
    assert "stockray_ws_connections" in text


async def test_metrics_include_state_read_from_postgres(db) -> None:
    conn = db["conn"]
    await conn.execute(
        "INSERT INTO watermarks (instrument_id, capability, provider, covered_until, updated_at) "
        "VALUES ('AAPL', 'prices', 'yahoo', now(), to_timestamp(1700000000))"
    )
    await conn.execute(
        "INSERT INTO job_runs (kind, trace_id, status, started_at) VALUES "
        "('collect', 't1', 'succeeded', now()), "
        "('backfill', 't2', 'running', now() - interval '1 hour')"
    )
    await conn.execute(
        "INSERT INTO llm_budget (day, limit_micro, spent_micro, reserved_micro) "
        "VALUES ((now() AT TIME ZONE 'UTC')::date, 5000000, 4000000, 250000)"
    )
    async with api(db, metrics_token=METRICS_TOKEN) as (http, _):
        text = (await http.get("/metrics", headers=auth(METRICS_TOKEN))).text
    assert (
        'stockray_collection_last_success_timestamp_seconds{capability="prices",'
        'instrument="AAPL"} 1.7e+09' in text
    )
    assert 'stockray_job_runs{kind="collect",status="succeeded"} 1.0' in text
    oldest = next(
        ln for ln in text.splitlines()
        if ln.startswith('stockray_job_unfinished_oldest_seconds{kind="backfill"')
    )  # fmt: skip
    assert 3500 < float(oldest.split()[-1]) < 3700
    assert "stockray_llm_budget_usd 5.0" in text
    assert "stockray_llm_spent_usd 4.25" in text


async def test_metrics_ask_for_their_token_whatever_the_client_address(db) -> None:
    async with api(db) as (http, _):  # no token set: /metrics is off
        assert (await http.get("/metrics")).status_code == 403
    async with api(db, metrics_token=METRICS_TOKEN) as (http, _):  # loopback, as behind HAProxy
        for headers in ({}, auth("wrong-" + METRICS_TOKEN), {"X-API-Key": "x"}):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json()["error"]["code"] == "unauthorized"
        assert (await http.get("/metrics", headers=auth(METRICS_TOKEN))).status_code == 200


async def test_cors_allows_only_the_configured_origins(db) -> None:
    preflight = {"Access-Control-Request-Method": "GET"}
    async with api(db, cors_origins=["https://app.example"]) as (http, _):
        ok = await http.options(
            "/api/v1/instruments", headers={**preflight, "Origin": "https://app.example"}
        )
        assert ok.headers.get("access-control-allow-origin") == "https://app.example"
        other = await http.options(
            "/api/v1/instruments", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
    async with api(db) as (http, _):  # none configured: no CORS headers at all
        none = await http.get("/healthz", headers={"Origin": "https://app.example"})
        assert "access-control-allow-origin" not in none.headers


async def test_readiness_checks_redis_when_configured(db, redis_url: str) -> None:
    async with api(db, redis_url=redis_url) as (http, _):
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok"
    async with api(db, redis_url="redis://127.0.0.1:1/0") as (http, _):  # nothing listens
        down = await http.get("/readyz")  # ready but degraded: the local fallbacks serve
        assert down.status_code == 200 and down.json()["status"] == "degraded"
        assert down.json()["checks"]["redis"].startswith("error")

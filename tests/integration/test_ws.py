"""WebSocket `/ws` on real sockets: the app under uvicorn, then under Serve with two replicas.

Events go through the session's event-hub actor (or a real redis-server) exactly as jobs
publish them; each test names its own instruments, so events of other tests never match.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from actors.events import KEEP, RedisEvents, event_body, events_handle, follow
from cluster import serve_deploy
from cluster.ray_head import auth_headers, free_port, serve_env
from configs.settings import load_settings
from core.live import protocol as live_protocol
from core.storage.api_keys import create_key
from core.storage.db import connect as pg_connect
from core.storage.migrations import migrate
from core.wait import aeventually, apoll, eventually
from serve_app import live
from serve_app.app import build_api
from serve_app.context import AppContext


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def watch(conn: Any, *names: str) -> None:
    """Put `names` on the watchlist (`/ws` subscribes only to watchlist ids)."""
    await conn.executemany(
        "INSERT INTO instruments (id, name, exchange, currency, timezone) "
        "VALUES ($1, $1, 'TEST', 'USD', 'UTC') ON CONFLICT DO NOTHING",
        [(name,) for name in names],
    )


async def _publish(kind: str, instrument: str | None, **payload: Any) -> int:
    return await events_handle().publish.remote(kind, {"instrument": instrument, **payload})


async def _next(ws: ClientConnection, timeout: float = 10.0, skip_beats: bool = True) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if not (skip_beats and message["type"] == "heartbeat"):
            return message


async def _events(ws: ClientConnection, count: int, timeout: float = 15.0) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        message = await _next(ws, max(0.1, deadline - time.monotonic()))
        if "id" in message:
            got.append(message)
    return got


async def _close_code(ws: ClientConnection, timeout: float = 10.0) -> int:
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    return ws.close_code


@pytest.fixture
async def keys(fresh_dsn: str) -> AsyncIterator[dict[str, Any]]:
    """A migrated database with a read key that has one stored subscription."""
    conn = await pg_connect(fresh_dsn)
    await migrate(conn)
    info, key = await create_key(conn, "ws-reader", "read")
    _, bare = await create_key(conn, "ws-bare", "read")
    stored = _name("STORED")
    await watch(conn, stored)
    await conn.execute(
        "INSERT INTO subscriptions (key_id, instruments, events) VALUES ($1, $2, $3)",
        info.id,
        [stored],
        ["bar"],
    )
    yield {"dsn": fresh_dsn, "key": key, "bare": bare, "stored": stored, "conn": conn}
    await conn.close()


@pytest.fixture
async def api(request, ray_cluster, keys) -> AsyncIterator[str]:
    """The API under uvicorn on a free port (real TCP, so a reader that stops is slow).

    Settings overrides come from indirect parametrization (`request.param`)."""
    settings = load_settings(database_url=keys["dsn"], **getattr(request, "param", {}))
    app = build_api(settings)
    ctx = app.state.context = AppContext(settings)
    await live.on_replica_start(ctx)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws_max_size=live.MAX_MESSAGE
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield f"ws://127.0.0.1:{port}/ws"
    await live.on_replica_stop(ctx)
    server.should_exit = True
    await task
    await ctx.close()


async def test_keys_are_checked_with_close_codes(api: str) -> None:
    async with connect(api) as ws:
        assert await _close_code(ws) == live.CLOSE_UNAUTHORIZED
    async with connect(f"{api}?key=sr_nothing_here") as ws:
        assert await _close_code(ws) == live.CLOSE_UNAUTHORIZED
    async with connect(f"{api}?key=x&last_event_id=-1") as ws:
        assert await _close_code(ws) == live.CLOSE_UNAUTHORIZED  # the key is checked first


async def test_subscribe_filter_and_bad_messages(api: str, keys: dict[str, Any]) -> None:
    stored, other = keys["stored"], _name("OTHER")
    await watch(keys["conn"], other)
    headers = {"X-API-Key": keys["key"]}
    async with connect(api, additional_headers=headers) as ws:
        hello = await _next(ws)
        assert hello["subscriptions"] == [{"instruments": [stored], "events": ["bar"]}]
        await _publish("article", stored, title="not a bar")
        await _publish("bar", other, close=1.0)
        wanted = await _publish("bar", stored, close=2.0)
        await _publish("collected", stored)  # internal: never sent to clients
        [event] = await _events(ws, 1)
        assert (event["id"], event["type"], event["instrument"]) == (wanted, "bar", stored)
        assert event["payload"]["close"] == 2.0

        for bad in ("nope", "[]", '{"type":"subscribe","events":["weather"]}',
                    '{"type":"subscribe","instruments":"AAPL"}',
                    '{"type":"unsubscribe","instruments":["never"]}'):  # fmt: skip
            await ws.send(bad)
            reply = await _next(ws)
            assert reply["type"] == "error", bad
            assert reply["code"] in ("invalid_message", "unknown_events", "unknown_subscription")

        await ws.send(json.dumps({"type": "subscribe", "instruments": [other]}))
        reply = await _next(ws)
        assert reply["added"] == [{"instruments": [other], "events": []}] and reply["count"] == 2
        first = await _publish("article", other, title="now wanted")
        second = await _publish("job.progress", None, run_id="r1", done=1, total=2)
        got = await _events(ws, 2)
        assert [e["id"] for e in got] == [first, second]

        await ws.send(json.dumps({"type": "unsubscribe", "instruments": [other]}))
        await _next(ws)
        await _publish("article", other, title="no longer wanted")
        last = await _publish("bar", stored, close=3.0)
        assert [e["id"] for e in await _events(ws, 1)] == [last]
        await ws.send('{"type":"ping"}')
        assert (await _next(ws))["type"] == "pong"


async def test_resume_replays_what_was_missed_without_gaps_or_repeats(
    api: str, keys: dict[str, Any]
) -> None:
    stored = keys["stored"]
    url = f"{api}?key={keys['key']}"
    async with connect(url) as ws:
        await _next(ws)
        seen = [await _publish("bar", stored)]
        assert [e["id"] for e in await _events(ws, 1)] == seen
    missed = [await _publish("bar", stored, n=n) for n in range(20)]
    await _publish("article", stored)  # filtered out of the replay too
    async with connect(f"{url}&last_event_id={seen[-1]}") as ws:
        await _next(ws)
        live_ids = [await _publish("bar", stored, n=n) for n in range(5)]
        got = [e["id"] for e in await _events(ws, 25)]
        assert got == missed + live_ids
        with pytest.raises(TimeoutError):
            await _events(ws, 1, timeout=0.5)  # nothing twice

    # The same through a subscribe message, and an id older than the buffer.
    async with connect(f"{api}?key={keys['bare']}&heartbeat_s=1") as ws:
        assert (await _next(ws))["subscriptions"] == []
        beat = await _next(ws, timeout=3, skip_beats=False)
        assert beat["type"] == "heartbeat"
        await ws.send(json.dumps({"type": "subscribe", "instruments": [stored],
                                  "events": ["bar"], "last_event_id": missed[9]}))  # fmt: skip
        await _next(ws)
        assert [e["id"] for e in await _events(ws, 15)] == missed[10:] + live_ids
        await ws.send(json.dumps({"type": "subscribe", "last_event_id": 1}))
        await _next(ws)
        lagged = await _next(ws)
        assert lagged["type"] == "lagged" and lagged["reason"] == "too_old"

    # A browser resumes through the URL before it has said what it wants: the replay waits
    # for its first subscribe instead of matching nothing.
    async with connect(f"{api}?key={keys['bare']}&last_event_id={missed[14]}") as ws:
        assert (await _next(ws))["subscriptions"] == []
        await ws.send(json.dumps({"type": "subscribe", "instruments": [stored], "events": ["bar"]}))
        await _next(ws)
        assert [e["id"] for e in await _events(ws, 10)] == missed[15:] + live_ids


async def test_a_client_that_falls_behind_is_told_it_lagged_and_slows_nobody(
    api: str, keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst larger than a client's queue: that client gets `lagged`, others lose nothing.

    (On loopback the kernel absorbs tens of MB for a reader that stops, so the queue is made
    small here rather than the reader slow; the overflow path is the same.)
    """
    monkeypatch.setattr(live_protocol, "QUEUE_MAX", 20)
    stored, calm = keys["stored"], _name("CALM")
    await watch(keys["conn"], calm)
    hub = events_handle()
    async with (
        connect(f"{api}?key={keys['key']}") as busy,
        connect(f"{api}?key={keys['bare']}") as other,
    ):
        await _next(busy)
        await _next(other)
        await other.send(json.dumps({"type": "subscribe", "instruments": [calm]}))
        await _next(other)
        started = time.monotonic()
        burst = hub.publish.remote  # no await between calls: the feed gets one big batch
        refs = [burst("bar", {"instrument": stored, "n": n}) for n in range(300)]
        calm_ids = [await _publish("article", calm, n=n) for n in range(5)]
        burst_ids = await asyncio.gather(*refs)
        publish_s = time.monotonic() - started
        assert [e["id"] for e in await _events(other, 5)] == calm_ids  # untouched by the burst

        received, lagged = [], []
        with contextlib.suppress(TimeoutError):
            while True:
                message = await _next(busy, timeout=2)
                (received if "id" in message else lagged).append(message)
    assert lagged and all(m["type"] == "lagged" and m["reason"] == "overflow" for m in lagged)
    ids = [e["id"] for e in received]
    assert ids == sorted(set(ids)) and set(ids) <= set(burst_ids)
    assert max(m["last_event_id"] for m in lagged) < ids[-1] == max(burst_ids)  # then live again
    assert publish_s < 30  # the publisher never waited for a client


async def test_fan_out_follows_redis_and_catches_up_after_a_lost_connection(
    redis_url: str,
) -> None:
    """Two feeds (two replicas) on Redis pub/sub; a killed connection loses nothing."""
    source = RedisEvents(redis_url)
    settings = load_settings(redis_url=redis_url, database_url=None)
    feeds = [live.make_feed(AppContext(settings)) for _ in range(2)]
    tasks = [asyncio.create_task(follow(settings, feed)) for feed in feeds]
    try:
        for feed in feeds:
            await asyncio.wait_for(feed.ready.wait(), 10)
        first = [await source.publish(event_body("bar", {"n": n}, "R")) for n in range(10)]
        assert first == list(range(first[0], first[0] + 10))
        await source.client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        more = [await source.publish(event_body("bar", {"n": n}, "R")) for n in range(10)]
        await apoll(
            lambda: all(f.last_id >= more[-1] for f in feeds), timeout_s=15, interval_s=0.05
        )
        for feed in feeds:
            assert [i for i, _, _ in feed.ring][-20:] == first + more

        await source.client.delete("stockray:events:id")  # a lost counter restarts higher
        assert await source.publish(event_body("bar", {}, "R")) > more[-1]
        _, tail = await source.tail()
        assert len(tail) <= KEEP + 100 and tail[-1]["id"] > more[-1]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await source.aclose()


# -- under Serve: two replicas, a scale-down, clients resuming --------------------------------


def _serve_port(dashboard_url: str) -> int:
    """The port of the running Serve proxy (another test may have started Serve first)."""
    resp = httpx.get(dashboard_url + serve_deploy.APPS_PATH, headers=auth_headers(), timeout=10)
    return int(resp.json()["http_options"]["port"])


async def _reconnect(url: str, timeout: float = 30.0) -> ClientConnection:
    return await aeventually(
        lambda: connect(url),
        timeout_s=timeout,
        interval_s=0.2,
        ignore=(OSError, InvalidHandshake, TimeoutError),  # the proxy is between replicas
        what=f"connected to {url}",
    )


@pytest.fixture
async def served(ray_cluster, keys) -> AsyncIterator[tuple[str, Any]]:
    """The API deployed with two replicas under its own app name and route prefix."""
    from ray import serve

    from serve_app import chat
    from serve_app.app import Api

    serve.start(http_options={"host": "127.0.0.1", "port": free_port()})
    port = _serve_port(ray_cluster.dashboard_url)
    name = _name("wsapp")
    options = {"num_cpus": 0, "runtime_env": {"env_vars": {"STOCKRAY_DATABASE_URL": keys["dsn"]}}}

    def deploy(replicas: int) -> None:
        app = Api.options(num_replicas=replicas, ray_actor_options=options,
                          graceful_shutdown_timeout_s=20, max_ongoing_requests=100).bind(
            chat.Chat.options(ray_actor_options={"num_cpus": 0}).bind()
        )  # fmt: skip
        serve.run(app, name=name, route_prefix=f"/{name}", blocking=False)

        def reached() -> bool:
            status = serve.status().applications.get(name)
            running = status and status.deployments["Api"].replica_states.get("RUNNING", 0)
            return bool(status and status.status == "RUNNING" and running == replicas)

        eventually(reached, timeout_s=120, interval_s=0.5, what=f"{name} at {replicas} replicas")

    await asyncio.to_thread(deploy, 2)
    yield f"ws://127.0.0.1:{port}/{name}/ws?key={keys['key']}", deploy
    serve.delete(name)


async def test_fan_out_across_two_replicas_and_resume_after_scale_down(
    served: tuple[str, Any], keys: dict[str, Any], tmp_path: Path
) -> None:
    url, deploy = served
    stored = keys["stored"]
    async with connect(url, max_size=None) as big:  # a frame over the limit: 1009
        await _next(big)
        await big.send("x" * (live.MAX_MESSAGE + 1))
        assert await _close_code(big) == live.CLOSE_TOO_BIG
    if serve_env(tmp_path):  # HAProxy to the replica's own server: refused from its header
        assert not big.close_reason.startswith("messages are at most"), big.close_reason
    # Tickets made through either replica open sockets on either (they live in Postgres).
    app_base = url.split("/ws?")[0]
    async with httpx.AsyncClient(headers={"X-API-Key": keys["key"]}) as http:
        made = [await http.post(app_base.replace("ws://", "http://") + "/api/v1/ws/ticket")
                for _ in range(6)]  # fmt: skip
    for answer in made:
        async with connect(f"{app_base}/ws?ticket={answer.json()['ticket']}") as ws:
            assert (await _next(ws))["type"] == "subscribed"
    clients: list[dict[str, Any]] = []
    # The ingress learns of a new replica a moment after Serve reports it running: keep
    # connecting (up to 30 s) until both replicas hold sockets.
    deadline = time.monotonic() + 30
    while len(clients) < 8 or len({c["replica"] for c in clients}) < 2:
        ws = await connect(url)
        hello = await _next(ws)
        clients.append({"ws": ws, "replica": hello["replica"], "ids": [], "closes": []})
        if len(clients) >= 8 and len({c["replica"] for c in clients}) < 2:
            assert time.monotonic() < deadline, "both replicas hold sockets"
            await clients.pop(0)["ws"].close()
            await asyncio.sleep(0.5)

    async def listen(client: dict[str, Any]) -> None:
        while True:
            try:
                message = await _next(client["ws"], timeout=60)
            except ConnectionClosed:
                client["closes"].append(client["ws"].close_code)
                client["ws"] = await _reconnect(f"{url}&last_event_id={client['ids'][-1]}")
                continue
            if "id" in message:
                client["ids"].append(message["id"])

    listeners = [asyncio.create_task(listen(c)) for c in clients]
    stop = asyncio.Event()

    async def publish() -> list[int]:
        ids = []
        while not stop.is_set():
            ids.append(await _publish("bar", stored, n=len(ids)))
            await asyncio.sleep(0.02)
        return ids

    publisher = asyncio.create_task(publish())
    await asyncio.sleep(2)
    await asyncio.to_thread(deploy, 1)  # the other replica drains: its sockets get 1012
    await asyncio.sleep(2)
    stop.set()
    published = await publisher
    await apoll(
        lambda: all(len(c["ids"]) >= len(published) for c in clients), timeout_s=20, interval_s=0.1
    )
    for task in listeners:
        assert not task.done() or task.exception() is None, task.exception()
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    for client in clients:
        await client["ws"].close()
        assert client["ids"] == published  # every event, in order, once
    moved = [c for c in clients if c["closes"]]
    # A reconnect may reach the draining replica again before the proxy stops routing to it.
    assert moved and all(set(c["closes"]) == {live.CLOSE_RESTART} for c in moved)


@pytest.mark.parametrize("api", [{"ws_max_sockets_per_key": 40}], indirect=True)
async def test_bench_measures_every_delivery(api: str, keys: dict[str, Any]) -> None:
    from bench._ws import measure_ws

    base = api.removesuffix("/ws").replace("ws://", "http://")
    names = [_name("WSB") for _ in range(40)]  # one client each, as the bench spreads them
    await watch(keys["conn"], *names)
    result = await measure_ws(
        base, keys["key"], clients=40, rate=20.0, duration_s=3.0, instruments=names
    )
    assert result["ws_clients"] == 40 and result["ws_events"] >= 50
    assert result["ws_lost"] == 0 and result["ws_messages"] == result["ws_events"]  # 1 each

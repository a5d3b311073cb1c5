"""WebSocket `/ws` against abuse (issue 14): every limit on one replica, on real sockets.

The app runs under uvicorn in this process, so the tests can look at the replica's `Feed`
(queue lengths) and measure the event loop the sockets share.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from configs.settings import load_settings
from core.live import protocol as live_protocol
from core.wait import aeventually
from serve_app import live
from serve_app.app import build_api
from serve_app.context import AppContext
from tests.integration import test_ws as base
from tests.integration.test_ws import _name, _next, _publish, watch

keys = base.keys  # the same fixture: a migrated database and two read keys


@dataclass
class Served:
    """The app under uvicorn: its `/ws` URL, its HTTP base and its context."""

    url: str
    http: str
    ctx: AppContext

    @property
    def feed(self) -> live.Feed:
        return self.ctx.live


@pytest.fixture
async def served(request, ray_cluster, keys) -> AsyncIterator[Served]:
    """The API under uvicorn; `request.param` holds settings overrides and, optionally,
    `frame_limit` (uvicorn's ws_max_size, default on) and `small_buffers` (an 8 KB kernel
    send buffer per socket, so a client that stops reading blocks the server at once)."""
    overrides = dict(getattr(request, "param", {}))
    frame_limit = overrides.pop("frame_limit", True)
    small_buffers = overrides.pop("small_buffers", False)
    settings = load_settings(database_url=keys["dsn"], **overrides)
    app = build_api(settings)
    ctx = app.state.context = AppContext(settings)
    await live.on_replica_start(ctx)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if small_buffers:  # accepted sockets inherit it (and lose autotuning)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    limit = {"ws_max_size": live.MAX_MESSAGE} if frame_limit else {}
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **limit))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.05)
    yield Served(f"ws://127.0.0.1:{port}/ws", f"http://127.0.0.1:{port}", ctx)
    await live.on_replica_stop(ctx)
    server.should_exit = True
    await task
    await ctx.close()


async def _closed(ws: ClientConnection, timeout: float = 15.0) -> tuple[int, str]:
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    return ws.close_code, ws.close_reason


async def _until(condition: Any, timeout: float, what: str) -> None:
    await aeventually(condition, timeout_s=timeout, interval_s=0.05, what=what)


def _sub(instruments: list[str], events: list[str] | None = None, kind: str = "subscribe") -> str:
    return json.dumps({"type": kind, "instruments": instruments, "events": events or []})


@pytest.mark.parametrize("served", [{"ws_max_rules": 3}], indirect=True)
async def test_rules_are_capped_checked_and_answered_with_what_changed(
    served: Served, keys: dict[str, Any]
) -> None:
    known = [_name("CAP") for _ in range(4)]
    await watch(keys["conn"], *known)
    async with connect(f"{served.url}?key={keys['bare']}") as ws:
        assert (await _next(ws))["count"] == 0
        await ws.send(_sub([known[0], "NOT-LISTED", "ALSO-NOT"]))
        refused = await _next(ws)
        assert refused["type"] == "error" and refused["code"] == "unknown_instruments"
        assert (
            refused["unknown"] == ["ALSO-NOT", "NOT-LISTED"] and "NOT-LISTED" in refused["message"]
        )
        await ws.send(_sub([known[0]], ["weather"]))
        assert (await _next(ws))["code"] == "unknown_events"

        added = []
        for name in known[:3]:
            await ws.send(_sub([name], ["bar"]))
            added.append(await _next(ws))
        assert [a["added"] for a in added] == [[{"instruments": [n], "events": ["bar"]}]
                                               for n in known[:3]]  # fmt: skip
        assert [a["count"] for a in added] == [1, 2, 3] and "subscriptions" not in added[-1]
        await ws.send(_sub([known[0]], ["bar"]))  # again: nothing changes
        assert (await _next(ws)) == {"type": "subscribed", "added": [], "count": 3}
        await ws.send(_sub([known[3]]))
        over = await _next(ws)
        assert over["code"] == "too_many_subscriptions" and over["limit"] == 3

        await ws.send(_sub([known[1]], ["bar"], kind="unsubscribe"))
        removed = await _next(ws)
        assert removed == {"type": "unsubscribed", "count": 2,
                           "removed": [{"instruments": [known[1]], "events": ["bar"]}]}  # fmt: skip
        await ws.send('{"type": "list"}')
        listed = await _next(ws)
        assert listed["type"] == "subscriptions" and listed["next_offset"] is None
        assert [r["instruments"] for r in listed["subscriptions"]] == [[known[0]], [known[2]]]

    # The key's stored subscriptions (loaded into each socket) are capped the same way.
    async with httpx.AsyncClient(base_url=served.http, headers={"X-API-Key": keys["bare"]}) as http:
        codes = [
            (await http.post("/api/v1/subscriptions", json={"instruments": [n]})).status_code
            for n in known
        ]
        again = await http.post("/api/v1/subscriptions", json={"instruments": [known[0]]})
    assert codes == [201, 201, 201, 409] and again.status_code == 200


async def test_a_thousand_subscribes_finish_without_stalling_other_sockets(
    served: Served, keys: dict[str, Any]
) -> None:
    names = [_name("MANY") for _ in range(200)]
    await watch(keys["conn"], *names)
    kinds = ["bar", "article", "report.published", "job.progress"]
    worst_gap, stop = 0.0, asyncio.Event()

    async def probe() -> None:  # how late the shared event loop wakes a 10 ms sleeper
        nonlocal worst_gap
        while not stop.is_set():
            started = time.monotonic()
            await asyncio.sleep(0.01)
            worst_gap = max(worst_gap, time.monotonic() - started - 0.01)

    async with (
        connect(f"{served.url}?key={keys['bare']}") as flood,
        connect(f"{served.url}?key={keys['key']}") as calm,
    ):
        await _next(flood)
        await _next(calm)
        prober = asyncio.create_task(probe())
        replies: list[str] = []

        async def read_replies() -> None:
            while len(replies) < 1000:
                replies.append(await asyncio.wait_for(flood.recv(), 30))

        reader = asyncio.create_task(read_replies())
        for n in range(1000):  # 1000 different rules of 50 instruments each
            window = [names[(n + i) % len(names)] for i in range(50)]
            await flood.send(_sub(window, kinds[: 1 + n % 4]))
            if n % 50 == 49:
                await asyncio.sleep(0)
        event_id = await _publish("bar", keys["stored"], close=1.0)
        got = await _next(calm, timeout=10)
        await reader
        stop.set()
        await prober
    assert got["id"] == event_id
    decoded = [json.loads(r) for r in replies]
    assert sum(r["type"] == "subscribed" and len(r["added"]) == 1 for r in decoded) == 100
    assert {r["code"] for r in decoded if r["type"] == "error"} == {"too_many_subscriptions"}
    assert max(len(r) for r in replies) < 4096  # one rule at most, never the whole list
    assert worst_gap < 0.2, f"the event loop stalled for {worst_gap:.3f} s"


@pytest.mark.parametrize("served", [{"small_buffers": True}], indirect=True)
async def test_a_client_that_does_not_read_is_closed_and_its_replies_stay_bounded(
    served: Served, keys: dict[str, Any]
) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(served.http.rsplit(":", 1)[1])))
    async with connect(f"{served.url}?key={keys['key']}", sock=sock, max_queue=2) as ws:
        await _next(ws)
        deepest, sent = 0, 0
        deadline = time.monotonic() + 60

        def overflowed() -> bool:
            return any(c.close_code == live.CLOSE_NOT_READING for c in served.feed.clients)

        while not overflowed():  # pings, never reading a pong
            assert time.monotonic() < deadline, f"still open after {sent} pings"
            for _ in range(50):
                await ws.send('{"type": "ping"}')
            sent += 50
            await asyncio.sleep(0)
            deepest = max([deepest, *(len(c.control) for c in served.feed.clients)])
        assert deepest <= live_protocol.CONTROL_MAX
        code, reason = await _closed(ws)  # reading again: the pongs, then the close frame
    assert (code, reason) == (live.CLOSE_NOT_READING, "client not reading")
    await _until(lambda: not served.feed.clients, 10, "the socket is gone from the feed")


@pytest.mark.parametrize("served", [{}, {"frame_limit": False}], indirect=True)
async def test_an_oversized_message_is_refused(served: Served, keys: dict[str, Any]) -> None:
    """With uvicorn's frame limit the protocol refuses it unread; without one (Serve's
    proxy) the replica refuses it before decoding: 1009 either way."""
    async with connect(f"{served.url}?key={keys['key']}", max_size=None) as ws:
        await _next(ws)
        await ws.send("x" * (live.MAX_MESSAGE + 1))
        code, _ = await _closed(ws)
    assert code == live.CLOSE_TOO_BIG


@pytest.mark.parametrize("served", [{"ws_key_recheck_s": 1}], indirect=True)
async def test_a_revoked_keys_socket_is_closed_within_the_recheck_period(
    served: Served, keys: dict[str, Any]
) -> None:
    async with connect(f"{served.url}?key={keys['key']}") as ws:
        await _next(ws)
        # Revoked behind this process's back: its cache of verified keys still says valid.
        await keys["conn"].execute("UPDATE api_keys SET revoked_at = now()")
        started = time.monotonic()
        code, reason = await _closed(ws, timeout=20)
    assert (code, reason) == (live.CLOSE_UNAUTHORIZED, "key revoked")
    assert time.monotonic() - started < 10  # one period (1 s) and the query, generously


@pytest.mark.parametrize("served", [{"ws_max_sockets_per_key": 3}], indirect=True)
async def test_sockets_per_key_are_capped_on_a_replica(
    served: Served, keys: dict[str, Any]
) -> None:
    url = f"{served.url}?key={keys['key']}"
    async with contextlib.AsyncExitStack() as stack:
        first = [await stack.enter_async_context(connect(url)) for _ in range(3)]
        for ws in first:
            await _next(ws)
        async with connect(url) as fourth:
            code, reason = await _closed(fourth)
        assert code == live_protocol.CLOSE_TOO_MANY and "3 sockets" in reason
        async with connect(f"{served.url}?key={keys['bare']}") as other_key:
            assert (await _next(other_key))["type"] == "subscribed"
        await first[0].close()
        await _until(lambda: sum(served.feed.sockets_by_key.values()) == 2, 10, "freed")
        async with connect(url) as again:
            assert (await _next(again))["type"] == "subscribed"


async def test_a_ticket_opens_one_socket_once_and_expires(
    served: Served, keys: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(base_url=served.http) as http:
        assert (await http.post("/api/v1/ws/ticket")).status_code == 401
        made = [
            (await http.post("/api/v1/ws/ticket", headers={"X-API-Key": keys["key"]})).json()
            for _ in range(2)
        ]
    assert made[0]["expires_in_s"] == 30 and made[0]["ticket"] != made[1]["ticket"]
    ticket, stale = made[0]["ticket"], made[1]["ticket"]

    async with connect(f"{served.url}?ticket={ticket}") as ws:
        hello = await _next(ws)  # the key's stored subscription: the ticket stands for it
        assert hello["subscriptions"] == [{"instruments": [keys["stored"]], "events": ["bar"]}]
    async with connect(f"{served.url}?ticket={ticket}") as ws:
        assert (await _closed(ws))[0] == live.CLOSE_UNAUTHORIZED  # spent

    await keys["conn"].execute("UPDATE ws_tickets SET expires_at = now() - interval '1 s'")
    async with connect(f"{served.url}?ticket={stale}") as ws:
        assert (await _closed(ws))[0] == live.CLOSE_UNAUTHORIZED  # expired
    async with connect(f"{served.url}?ticket=wst_made_up") as ws:
        assert (await _closed(ws))[0] == live.CLOSE_UNAUTHORIZED

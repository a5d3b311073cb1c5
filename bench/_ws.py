"""WebSocket fan-out: many clients, events published the way jobs publish them.

Each client subscribes to one of `INSTRUMENTS` synthetic instruments (so every event goes
to clients/INSTRUMENTS sockets, not to all of them: 1,000 × every event is not feasible on
two cores). Events go through the event-hub actor at `rate` per second, each carrying its
publish time; latency is publish → receive on the client. A client that is closed (e.g. a
replica scaled down) reconnects with `last_event_id`; `ws_lost` counts deliveries that never
arrived, `ws_events` the events published, `ws_messages` the deliveries received.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

INSTRUMENTS = 100
CONNECT_CONCURRENCY = 50
DRAIN_S = 10.0  # after the last publish, how long clients may take to receive it


class _Client:
    def __init__(self, url: str, instrument: str) -> None:
        self.url, self.instrument = url, instrument
        self.ids: set[int] = set()
        self.latencies_ms: list[float] = []
        self.last_id = 0
        self.reconnects = 0
        self.ws: ClientConnection | None = None

    async def open(self) -> None:
        query = f"&last_event_id={self.last_id}" if self.last_id else ""
        self.ws = await connect(self.url + query, open_timeout=60, max_queue=None)
        subscribe = {"type": "subscribe", "instruments": [self.instrument], "events": ["bar"]}
        await self.ws.send(json.dumps(subscribe))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                raw = await self.ws.recv()
            except ConnectionClosed:
                if stop.is_set():
                    return
                self.reconnects += 1
                await self.open()
                continue
            message = json.loads(raw)
            if "id" in message and message["instrument"] == self.instrument:
                self.latencies_ms.append((time.time() - message["payload"]["sent_at"]) * 1000)
                self.ids.add(message["id"])
                self.last_id = max(self.last_id, message["id"])


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1) if ordered else 0.0


async def _publish(rate: float, duration_s: float, names: list[str]) -> dict[str, list[int]]:
    from actors.events import events_handle

    hub = events_handle()
    refs: list[tuple[str, Any]] = []
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < duration_s:
        name = names[n % len(names)]
        payload = {"instrument": name, "sent_at": time.time(), "n": n}
        refs.append((name, hub.publish.remote("bar", payload)))
        n += 1
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
    published: dict[str, list[int]] = {name: [] for name in names}
    for name, ref in refs:
        published[name].append(await ref)
    return published


async def measure_ws(
    api_url: str,
    api_key: str,
    clients: int = 1000,
    rate: float = 100.0,
    duration_s: float = 30.0,
    instruments: list[str] | None = None,
) -> dict:
    """Connect `clients` sockets to `api_url`'s `/ws`, publish `rate` events/s for `duration_s`.

    The caller has `ray.init` done against the stack's cluster (the hub actor is there).
    `/ws` takes only watchlist ids: pass `instruments` (ids in the `instruments` table) unless
    the synthetic names were added there.
    """
    base = api_url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
    url = f"{base}/ws?key={api_key}"
    stamp = int(time.time())
    names = instruments or [f"WSB{stamp}-{i:03d}" for i in range(min(INSTRUMENTS, clients))]
    pool = [_Client(url, names[i % len(names)]) for i in range(clients)]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one(client: _Client) -> None:
        async with gate:
            await client.open()

    started = time.monotonic()
    await asyncio.gather(*(open_one(c) for c in pool))
    connect_s = time.monotonic() - started
    await asyncio.sleep(1.0)  # subscriptions land before the first event
    stop = asyncio.Event()
    readers = [asyncio.create_task(c.run(stop)) for c in pool]
    published = await _publish(rate, duration_s, names)
    expected = {name: set(ids) for name, ids in published.items()}
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline and any(c.ids < expected[c.instrument] for c in pool):
        await asyncio.sleep(0.2)
    stop.set()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await asyncio.gather(*(c.ws.close() for c in pool if c.ws), return_exceptions=True)
    wanted = sum(len(expected[c.instrument]) for c in pool)
    received = sum(len(c.ids & expected[c.instrument]) for c in pool)
    latencies = [ms for c in pool for ms in c.latencies_ms]
    return {
        "ws_clients": clients,
        "ws_events": sum(len(ids) for ids in published.values()),
        "ws_rate": rate,
        "ws_duration_s": duration_s,
        "ws_messages": received,
        "ws_lost": wanted - received,
        "ws_p50_ms": round(sorted(latencies)[len(latencies) // 2], 1) if latencies else 0.0,
        "ws_p99_ms": _p99(latencies),
        "ws_reconnects": sum(c.reconnects for c in pool),
        "ws_connect_s": round(connect_s, 1),
    }

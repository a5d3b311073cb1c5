"""Load the chaos bench keeps up while it breaks things: REST GETs and WebSocket clients.

`ApiLoad` paces authenticated GETs at a target rate with a cap on requests in flight; when
the machine cannot keep the pace, the ticks it could not start are counted as `skipped`
and the achieved rate is what the servers answered. Every answer's status is counted as
received; a transport error (nothing answered) is counted apart, never as a status.

`WsFleet` keeps sockets open on `/ws`, each subscribed to one watchlist instrument, and
publishes `bar` events through the event hub. A socket that closes reconnects with the
last id it saw (`last_event_id`), so `lost` counts deliveries that never arrived at all.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

CONNECT_CONCURRENCY = 25
DRAIN_S = 20.0


class ApiLoad:
    """Paced GETs against the REST API; `report()` gives the figures."""

    def __init__(self, api_url: str, key: str, instruments: list[str], rps: float) -> None:
        self.api_url, self.rps, self.instruments = api_url, rps, instruments
        self.headers = {"Authorization": f"Bearer {key}"}
        self.statuses: Counter[int] = Counter()
        self.transport_errors: Counter[str] = Counter()
        self.other_5xx: list[dict[str, Any]] = []
        self.skipped = 0
        self.elapsed_s = 0.0
        self.started = time.monotonic()
        self.timeline: defaultdict[int, Counter[int]] = defaultdict(Counter)

    def _path(self, n: int) -> str:
        instrument = self.instruments[n % len(self.instruments)]
        return [
            "/api/v1/instruments",
            f"/api/v1/instruments/{instrument}/bars?start=2024-01-01T00:00:00Z",
            f"/api/v1/instruments/{instrument}/news?limit=20",
            f"/api/v1/instruments/{instrument}/analysis?days=7",
        ][n % 4]

    async def _one(self, client: httpx.AsyncClient, path: str) -> None:
        try:
            response = await client.get(path, headers=self.headers)
        except httpx.HTTPError as exc:
            self.transport_errors[type(exc).__name__] += 1
            return
        self.statuses[response.status_code] += 1
        self.timeline[int(time.monotonic() - self.started) // 5 * 5][response.status_code] += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.other_5xx.append(
                {
                    "at": round(time.time(), 1),
                    "status": response.status_code,
                    "path": path,
                    "body": response.text[:300],
                }
            )

    async def run(self, should_stop: Callable[[], bool], in_flight: int = 48) -> None:
        """Send at `rps` until `should_stop()`."""
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        gate = asyncio.Semaphore(in_flight)
        tasks: set[asyncio.Task] = set()
        async with httpx.AsyncClient(base_url=self.api_url, timeout=10, limits=limits) as client:
            started = self.started = time.monotonic()
            n = 0
            while not should_stop():
                n += 1
                if gate.locked():
                    self.skipped += 1
                else:
                    await gate.acquire()
                    task = asyncio.create_task(self._one(client, self._path(n)))
                    task.add_done_callback(lambda _t: gate.release())
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.sleep(max(0.0, started + n / self.rps - time.monotonic()))
            await asyncio.gather(*tasks, return_exceptions=True)
            self.elapsed_s = time.monotonic() - started

    def report(self) -> dict[str, Any]:
        """Achieved load and every status seen."""
        answered = sum(self.statuses.values())
        return {
            "api_target_rps": self.rps,
            "api_achieved_rps": round(answered / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "api_requests": answered,
            "api_skipped_ticks": self.skipped,
            "api_statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "api_transport_errors": dict(self.transport_errors),
            "api_5xx_other_than_503": sum(
                v for k, v in self.statuses.items() if k >= 500 and k != 503
            ),
            "api_5xx_samples": self.other_5xx[:3],
            "api_5xx_first_last_at": [self.other_5xx[0]["at"], self.other_5xx[-1]["at"]]
            if self.other_5xx
            else None,
            "api_statuses_per_5s": {
                s: {str(k): v for k, v in c.items()} for s, c in sorted(self.timeline.items())
            },
        }


def run_api_load(
    api_url: str, key: str, instruments: list[str], rps: float, stop: Any, results: Any
) -> None:
    """Process entry: load until the `multiprocessing.Event` `stop`, report into `results`.

    A process of its own, so the WebSocket clients' decoding does not eat the loader's core.
    """
    load = ApiLoad(api_url, key, instruments, rps)
    asyncio.run(load.run(stop.is_set))
    results.put(load.report())


class _Socket:
    def __init__(self, url: str, instrument: str) -> None:
        self.url, self.instrument = url, instrument
        self.ids: set[int] = set()
        self.last_id = 0
        self.reconnects = 0
        self.lagged = 0
        self.refusals: Counter[str] = Counter()
        self.ws: ClientConnection | None = None

    async def open(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.ws = await connect(self.url, open_timeout=30, max_queue=None)
                subscribe: dict[str, Any] = {
                    "type": "subscribe",
                    "instruments": [self.instrument],
                    "events": ["bar"],
                }
                if self.last_id:  # a resume; 0 would ask for events the buffer no longer has
                    subscribe["last_event_id"] = self.last_id
                await self.ws.send(json.dumps(subscribe))
                return
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                code = exc.response.status_code if isinstance(exc, InvalidStatus) else None
                self.refusals[f"{type(exc).__name__}{f' {code}' if code else ''}"] += 1
                await asyncio.sleep(0.5 + random.random())

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                raw = await self.ws.recv()  # type: ignore[union-attr]
            except (ConnectionClosed, OSError) as exc:
                if stop.is_set():
                    return
                code = getattr(getattr(exc, "rcvd", None), "code", None)
                self.refusals[f"closed {code}"] += 1
                self.reconnects += 1
                await self.open(stop)
                continue
            message = json.loads(raw)
            if message.get("type") == "lagged":
                self.lagged += 1
            elif message.get("type") == "bar" and message.get("instrument") == self.instrument:
                self.ids.add(message["id"])
                self.last_id = max(self.last_id, message["id"])


class WsFleet:
    """`clients` sockets on `/ws` (keys round-robin), events published at `rate` per second."""

    def __init__(self, api_url: str, keys: list[str], instruments: list[str], clients: int):
        base = api_url.replace("http://", "ws://")
        self.instruments = instruments
        self.sockets = [
            _Socket(f"{base}/ws?key={keys[i % len(keys)]}", instruments[i % len(instruments)])
            for i in range(clients)
        ]
        self.published: dict[str, set[int]] = {name: set() for name in instruments}
        self.publish_failures = 0
        self._stop = asyncio.Event()
        self._readers: list[asyncio.Task] = []

    async def open(self) -> float:
        """Open every socket; the seconds it took."""
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        started = time.monotonic()

        async def one(sock: _Socket) -> None:
            async with gate:
                await sock.open(self._stop)

        await asyncio.gather(*(one(s) for s in self.sockets))
        self._readers = [asyncio.create_task(s.run(self._stop)) for s in self.sockets]
        return time.monotonic() - started

    async def publish(self, stop: asyncio.Event, rate: float) -> None:
        """Publish synthetic `bar` events through the hub until `stop` is set."""
        from actors.events import events_handle

        started, n = time.monotonic(), 0
        while not stop.is_set():
            name = self.instruments[n % len(self.instruments)]
            payload = {"instrument": name, "chaos": n, "sent_at": time.time()}
            try:
                self.published[name].add(await events_handle().publish.remote("bar", payload))
            except Exception:  # a publish the hub refused was never sent
                self.publish_failures += 1
            n += 1
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))

    def _missing(self) -> int:
        return sum(len(self.published[s.instrument] - s.ids) for s in self.sockets)

    async def close(self) -> dict[str, Any]:
        """Wait for deliveries to arrive (up to DRAIN_S), close, and count."""
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline and self._missing():
            await asyncio.sleep(0.5)
        open_at_end = sum(1 for s in self.sockets if s.ws and s.ws.state.name == "OPEN")
        self._stop.set()
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await asyncio.gather(*(s.ws.close() for s in self.sockets if s.ws), return_exceptions=True)
        refusals: Counter[str] = Counter()
        for sock in self.sockets:
            refusals.update(sock.refusals)
        lossy = [(s, sorted(self.published[s.instrument] - s.ids)) for s in self.sockets]
        lossy = [(s, gone) for s, gone in lossy if gone]
        return {
            "ws_clients": len(self.sockets),
            "ws_events_published": sum(len(ids) for ids in self.published.values()),
            "ws_publish_failures": self.publish_failures,
            "ws_deliveries_expected": sum(len(self.published[s.instrument]) for s in self.sockets),
            "ws_events_lost": self._missing(),
            "ws_lagged": sum(s.lagged for s in self.sockets),
            "ws_reconnects": sum(s.reconnects for s in self.sockets),
            "ws_reconnect_refusals": dict(refusals.most_common(6)),
            "ws_open_at_end": open_at_end,
            "ws_sockets_with_loss": len(lossy),
            "ws_loss_samples": [
                {
                    "instrument": s.instrument,
                    "missing": len(gone),
                    "first": gone[0],
                    "last": gone[-1],
                    "last_seen": s.last_id,
                    "reconnects": s.reconnects,
                }
                for s, gone in lossy[:4]
            ],
        }

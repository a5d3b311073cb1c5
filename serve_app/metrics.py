"""Recording the API's own metrics: HTTP requests (a middleware) and WebSocket connections.

In a Serve replica they are recorded through `ray.util.metrics`, like every other actor's
(DESIGN.md: a prometheus-client registry inside a Ray worker is seen by nobody); the
`/metrics` view (`serve_app.metrics_view`) gathers them from every node's metrics agent.
In a plain process (uvicorn, ASGI tests) the same names go to a prometheus-client registry,
which the view then renders directly (`local_registry`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge as PromGauge
from prometheus_client import Histogram as PromHistogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app import api_daily

REQUEST_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10]
FLUSH_INTERVAL_S = 1.0

_NAMES = {
    "requests": ("stockray_http_requests_total", "HTTP requests by route, method and status."),
    "seconds": ("stockray_http_request_seconds", "HTTP request latency by route."),
    "ws": ("stockray_ws_connections", "Open WebSocket connections."),
}


class _Sink:
    """Where this process records: Ray's metrics (in a replica) or a local registry."""

    def __init__(self) -> None:
        self.ray = False
        self.registry = CollectorRegistry()
        self._build_local()

    def _build_local(self) -> None:
        name, doc = _NAMES["requests"]
        self.requests: Any = PromCounter(
            name, doc, ("route", "method", "status"), registry=self.registry
        )
        name, doc = _NAMES["seconds"]
        self.seconds: Any = PromHistogram(
            name, doc, ("route",), buckets=REQUEST_BUCKETS_S, registry=self.registry
        )
        name, doc = _NAMES["ws"]
        self.ws: Any = PromGauge(name, doc, registry=self.registry)
        self._ws_open = 0
        self._pending: list[tuple[str, str, str, float]] = []
        self._flusher: asyncio.Task | None = None

    def use_ray(self) -> None:
        """Record through `ray.util.metrics` from now on (called once by a Serve replica)."""
        from ray.util.metrics import Counter, Gauge, Histogram

        name, doc = _NAMES["requests"]
        requests = Counter(name, description=doc, tag_keys=("route", "method", "status"))
        name, doc = _NAMES["seconds"]
        seconds = Histogram(
            name, description=doc, boundaries=REQUEST_BUCKETS_S, tag_keys=("route",)
        )
        name, doc = _NAMES["ws"]
        self.ws = Gauge(name, description=doc)
        self.ws.set(self._ws_open)
        self.requests, self.seconds, self.ray = requests, seconds, True

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        if not self.ray:
            self.requests.labels(route, method, str(status)).inc()
            self.seconds.labels(route).observe(seconds)
            return
        # In a replica, requests are buffered and handed to Ray once a second (as Serve does
        # for its own metrics): a Ray metric call per request cost ~5% of replica time.
        self._pending.append((route, method, str(status), seconds))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_every_second())

    async def _flush_every_second(self) -> None:
        while self._pending:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            self.flush()

    def flush(self) -> None:
        """Hand the buffered requests to Ray's metrics."""
        pending, self._pending = self._pending, []
        counts: dict[tuple[str, str, str], int] = {}
        for route, method, status, seconds in pending:
            counts[route, method, status] = counts.get((route, method, status), 0) + 1
            self.seconds.observe(seconds, tags={"route": route})
        for (route, method, status), n in counts.items():
            self.requests.inc(n, tags={"route": route, "method": method, "status": status})

    def ws_delta(self, delta: int) -> None:
        self._ws_open += delta
        self.ws.set(self._ws_open)


_sink = _Sink()


def use_ray_metrics() -> None:
    """Switch this process to Ray's metrics; a Serve replica calls it at start."""
    if not _sink.ray:
        _sink.use_ray()


def local_registry() -> CollectorRegistry | None:
    """This process's registry, or None once it records through Ray (a Serve replica)."""
    return None if _sink.ray else _sink.registry


def ws_connections(delta: int) -> None:
    """A WebSocket opened (+1) or closed (-1) on this replica."""
    _sink.ws_delta(delta)


class RequestMetrics:
    """ASGI middleware: count and time every HTTP request by its route template.

    The label is the matched route's path (`/api/v1/instruments/{instrument_id}/bars`), or
    `unmatched`, so ids and junk URLs never become label values.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            took = time.perf_counter() - start
            _sink.record(route, scope["method"], status, took)
            api_daily.record(scope, route, status, took)  # per-day counts, weekly report

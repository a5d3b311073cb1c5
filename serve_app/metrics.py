"""The API's own metrics (HTTP requests, WebSocket connections) and the `/metrics` view.

In a Serve replica they are recorded through `ray.util.metrics`, like every other actor's
(DESIGN.md: a prometheus-client registry inside a Ray worker is seen by nobody), and
`/metrics` gathers the `stockray_*` families from every node's metrics agent, so one scrape
shows the API's counts across all replicas plus the providers', jobs' and LLM's metrics,
whichever replica answers. Ray exports them as `ray_stockray_*`; the view strips the `ray_`.

In a plain process (uvicorn, ASGI tests) the same names go to a prometheus-client registry,
which `/metrics` then renders directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge as PromGauge
from prometheus_client import Histogram as PromHistogram
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("stockray.serve")

REQUEST_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10]
PREFIX = "stockray_"
RAY_PREFIX = "ray_" + PREFIX
SCRAPE_TIMEOUT_S = 3.0
FLUSH_INTERVAL_S = 1.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

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
            _sink.record(route, scope["method"], status, time.perf_counter() - start)


async def render(state: list[Any] | None = None) -> bytes:
    """The Prometheus exposition text `/metrics` answers with: this process's (or, in a
    replica, the cluster's) `stockray_*` metrics plus the `state` gauges already computed
    (`serve_app.state_gauges`)."""
    families = state or []
    if not _sink.ray:
        return generate_latest(_sink.registry) + _render(families)
    return _render([*await _gather_from_nodes(), *families])


def _render(families: list[Any]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


async def _gather_from_nodes() -> list[Any]:
    import ray

    nodes = [
        f"http://{n['NodeManagerAddress']}:{n['MetricsExportPort']}/metrics"
        for n in await asyncio.to_thread(ray.nodes)
        if n.get("Alive") and n.get("MetricsExportPort")
    ]
    async with httpx.AsyncClient(timeout=SCRAPE_TIMEOUT_S) as client:
        answers = await asyncio.gather(*(client.get(url) for url in nodes), return_exceptions=True)
    families: dict[str, Any] = {}
    for url, answer in zip(nodes, answers, strict=True):
        if isinstance(answer, BaseException) or answer.status_code != 200:
            log.warning("metrics scrape of %s failed: %s", url, _describe(answer))
            continue
        for family in text_string_to_metric_families(answer.text):
            if not family.name.startswith(RAY_PREFIX):
                continue
            family.name = family.name[len("ray_") :]
            for i, sample in enumerate(family.samples):
                family.samples[i] = sample._replace(name=sample.name[len("ray_") :])
            if family.name in families:
                families[family.name].samples.extend(family.samples)
            else:
                families[family.name] = family
    return list(families.values())


def _describe(answer: Any) -> str:
    return type(answer).__name__ if isinstance(answer, BaseException) else str(answer.status_code)


class _Families:
    """A collector that yields already-parsed families."""

    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> list[Any]:
        return self._families

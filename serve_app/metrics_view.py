"""The `/metrics` view: the Prometheus text of the `stockray_*` metrics.

In a Serve replica it gathers the `stockray_*` families from every node's metrics agent, so
one scrape shows the API's counts across all replicas plus the providers', jobs' and LLM's
metrics, whichever replica answers. Ray exports them as `ray_stockray_*`; the view strips
the `ray_`. In a plain process it renders the process's own registry (`serve_app.metrics`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from serve_app.metrics import local_registry

log = logging.getLogger("stockray.serve")

PREFIX = "stockray_"
RAY_PREFIX = "ray_" + PREFIX
SCRAPE_TIMEOUT_S = 3.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def render(state: list[Any] | None = None) -> bytes:
    """The Prometheus exposition text `/metrics` answers with: this process's (or, in a
    replica, the cluster's) `stockray_*` metrics plus the `state` gauges already computed
    (`serve_app.state_gauges`)."""
    families = state or []
    registry = local_registry()
    if registry is not None:
        return generate_latest(registry) + _render(families)
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

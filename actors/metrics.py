"""Provider metrics, recorded through `ray.util.metrics` so every node's agent exports them.

A prometheus-client registry inside a Ray worker is seen by nobody; Ray's metrics agent
exports these beside its own, prefixed `ray_` (`ray_stockray_provider_requests_total`).
"""

from __future__ import annotations

from functools import cache

from ray.util.metrics import Counter, Gauge, Histogram

LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]


@cache
def _metrics() -> dict[str, object]:
    # Built on first use inside the actor's process, never at import in a driver.
    return {
        "requests": Counter(
            "stockray_provider_requests_total",
            description="Provider HTTP calls by outcome (ok, rate_limited, timeout, ...).",
            tag_keys=("provider", "outcome"),
        ),
        "seconds": Histogram(
            "stockray_provider_request_seconds",
            description="Provider call latency.",
            boundaries=LATENCY_BUCKETS_S,
            tag_keys=("provider",),
        ),
        "wait": Histogram(
            "stockray_provider_ratelimit_wait_seconds",
            description="Time a call waited for its rate-limit slot.",
            boundaries=[0.001, *LATENCY_BUCKETS_S],
            tag_keys=("provider",),
        ),
        "circuit": Gauge(
            "stockray_provider_circuit_open",
            description="1 while a provider's circuit is open or half-open, else 0.",
            tag_keys=("provider",),
        ),
        "failovers": Counter(
            "stockray_provider_failovers_total",
            description="Calls passed on from one provider to the next.",
            tag_keys=("capability", "from_provider", "to_provider"),
        ),
    }


class RayMetricsHooks:
    """`core.provider_service.Hooks` that record to Ray's metrics."""

    def request(self, provider: str, outcome: str, seconds: float) -> None:
        """Count one call; time the ones that reached the provider."""
        m = _metrics()
        m["requests"].inc(1, tags={"provider": provider, "outcome": outcome})
        if seconds > 0:
            m["seconds"].observe(seconds, tags={"provider": provider})

    def ratelimit_wait(self, provider: str, seconds: float) -> None:
        """Record how long a call queued for its slot."""
        _metrics()["wait"].observe(seconds, tags={"provider": provider})

    def circuit(self, provider: str, is_open: bool) -> None:
        """Publish the circuit state."""
        _metrics()["circuit"].set(1.0 if is_open else 0.0, tags={"provider": provider})


def record_failover(capability: str, from_provider: str, to_provider: str) -> None:
    """Count one failover."""
    tags = {"capability": capability, "from_provider": from_provider, "to_provider": to_provider}
    _metrics()["failovers"].inc(1, tags=tags)

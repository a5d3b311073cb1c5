"""Per-provider counters, exact because every request is counted on the one event loop."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ProviderStats:
    """What a provider listener saw; `requests` = outage_503 + limited + admitted."""

    requests: int = 0  # requests that reached the listener (refused connections never do)
    admitted: int = 0  # passed the rate limiter (all non-outage requests when no limit is set)
    limited: int = 0  # answered with the rate-limit response (429 or the provider's own body)
    outage_503: int = 0  # answered 503 during a "503" outage
    errors_injected: int = 0  # answered with an injected 5xx
    slow: int = 0  # held for slow.delay_s before answering
    malformed: int = 0  # bodies made invalid JSON
    truncated: int = 0  # bodies cut short
    refusals: int = 0  # times the listener was closed for a "refuse" outage
    limited_by: Counter = field(default_factory=Counter)  # limited requests per window label
    by_status: Counter = field(default_factory=Counter)

    def record_status(self, status: int) -> None:
        """Count one answered response by HTTP status."""
        self.by_status[status] += 1

    def as_dict(self) -> dict:
        """JSON-ready counters, with 5xx and 429 totals."""
        return {
            "requests": self.requests,
            "admitted": self.admitted,
            "limited": self.limited,
            "outage_503": self.outage_503,
            "errors_injected": self.errors_injected,
            "slow": self.slow,
            "malformed": self.malformed,
            "truncated": self.truncated,
            "refusals": self.refusals,
            "http_5xx": sum(n for s, n in self.by_status.items() if s >= 500),
            "http_429": self.by_status.get(429, 0),
            "limited_by": dict(self.limited_by),
            "by_status": {str(s): n for s, n in sorted(self.by_status.items())},
        }

"""Errors raised by the resilience layer itself, placed in the tree of `core.errors`::

    ProviderError
    ├── RateLimited
    │   └── Throttled        our own limiter refused: waiting would exceed `max_wait_s`
    └── Unavailable
        └── CircuitOpen      the provider's circuit is open: fail over, do not retry here

Both mean "nothing was sent to the provider".
"""

from __future__ import annotations

from core.errors import RateLimited, StockrayError, Unavailable


class Throttled(RateLimited):
    """Our limiter would admit this call only after `retry_after` seconds, beyond `max_wait_s`."""

    def __init__(self, provider: str, retry_after: float) -> None:
        # Its own arguments go to the base, so pickling rebuilds it (see `core.errors`).
        StockrayError.__init__(self, provider, retry_after)
        self.provider, self.retry_after = provider, retry_after
        self.message = f"local rate limit: next slot in {retry_after:.3f}s"


class CircuitOpen(Unavailable):
    """The circuit is open (or its one probe is in flight); `retry_in_s` until a call may pass."""

    # Retrying against an open circuit only burns the caller's deadline; failover is the answer.
    retryable = False

    def __init__(self, provider: str, retry_in_s: float, reason: str | None = None) -> None:
        why = f" ({reason})" if reason else ""
        message = f"circuit open{why}, next probe in {retry_in_s:.1f}s"
        StockrayError.__init__(self, provider, retry_in_s, reason)  # see Throttled
        self.provider, self.message = provider, message
        self.retry_in_s = retry_in_s
        self.reason = reason

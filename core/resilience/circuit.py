"""A per-provider circuit breaker: closed → open → half-open → closed (or open again).

What counts: the breaker measures whether the provider is healthy, not whether a request
was good. `Unavailable`, `Timeout` and `BadPayload` count as failures: a provider that keeps
sending truncated or malformed answers is as useless as one that is down, and since
BadPayload is never retried the breaker is what moves traffic elsewhere. `RateLimited` does
not count (the provider is up and the limiter's `penalize` handles it), nor do `AuthError`
and `NotFound` (they are about our key or the query). Only a call that returns resets the
count; errors that do not count leave it as it was. Errors the resilience layer raises
itself (`CircuitOpen`, `Throttled`) never count: nothing was sent. `PlanLimit` does not count
either (the request, not the provider, is the problem).

A `QuotaExhausted` (a spent daily quota) opens the circuit at once and holds it open until
the quota's `reset_at`, whatever `cooldown_s` says: every call before then would be refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, Protocol

from core.errors import BadPayload, QuotaExhausted, Timeout, Unavailable
from core.resilience.errors import CircuitOpen, Throttled

State = Literal["closed", "open", "half_open"]

HEALTH_FAILURES: tuple[type[BaseException], ...] = (Unavailable, Timeout, BadPayload)
"""Errors that count towards opening the circuit (see the module docstring)."""


class CircuitPolicyLike(Protocol):
    """Anything shaped like `configs.sections.CircuitPolicy`."""

    @property
    def failure_threshold(self) -> int: ...

    @property
    def cooldown_s(self) -> float: ...


class CircuitBreaker:
    """Stops calls to a provider after `failure_threshold` consecutive health failures.

    Wrap each call in `with breaker.guard():`, which raises `CircuitOpen` when it may not pass.
    """

    def __init__(
        self,
        provider: str,
        *,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        failures: tuple[type[BaseException], ...] = HEALTH_FAILURES,
    ) -> None:
        if failure_threshold < 1 or cooldown_s <= 0:
            raise ValueError("failure_threshold >= 1 and cooldown_s > 0 are required")
        self.provider = provider
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.failures = failures
        self._clock = clock
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        # How long this opening lasts: `cooldown_s`, or longer while a quota is spent.
        self._open_for = cooldown_s
        self.quota_reset_at: datetime | None = None  # set while held open for a quota
        # When the half-open probe started; None when no probe is in flight.
        self._probe_started: float | None = None

    @classmethod
    def from_config(
        cls,
        provider: str,
        policy: CircuitPolicyLike,
        clock: Callable[[], float] = time.monotonic,
    ) -> CircuitBreaker:
        """A breaker with the numbers of `policy` (e.g. `ProviderConfig.circuit`)."""
        return cls(
            provider,
            failure_threshold=policy.failure_threshold,
            cooldown_s=policy.cooldown_s,
            clock=clock,
        )

    @property
    def state(self) -> State:
        """`closed`, `open`, or `half_open` once `cooldown_s` has passed since opening."""
        if self.opened_at is None:
            return "closed"
        if self._clock() - self.opened_at < self._open_for:
            return "open"
        return "half_open"

    @property
    def retry_in_s(self) -> float:
        """Seconds until a call may pass (0 when one may pass now)."""
        now = self._clock()
        if self.opened_at is None:
            return 0.0
        if now - self.opened_at < self._open_for:
            return self.opened_at + self._open_for - now
        if self._probe_started is not None and self._probe_in_flight(now):
            return self._probe_started + self.cooldown_s - now
        return 0.0

    def guard(self) -> _Guard:
        """A context manager around one call: admits it or raises `CircuitOpen`, then scores it."""
        return _Guard(self)

    def check(self) -> None:
        """Raise `CircuitOpen` while open (before its cooldown ends); admits nothing itself."""
        if self.state == "open":
            raise CircuitOpen(self.provider, self.retry_in_s, self._why())

    def snapshot(self) -> dict[str, object]:
        """State for health reports."""
        return {
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "opened_at": self.opened_at,
            "retry_in_s": self.retry_in_s,
            "probe_in_flight": self._probe_in_flight(self._clock()),
            "failure_threshold": self.failure_threshold,
            "cooldown_s": self.cooldown_s,
            "reason": "quota" if self.quota_reset_at is not None else None,
        }

    def hold_open(self, reset_at: datetime) -> None:
        """Open now and stay open until `reset_at` (a spent quota), then probe once."""
        self.opened_at = self._clock()
        self._open_for = max((reset_at - datetime.now(UTC)).total_seconds(), 0.0)
        self.quota_reset_at = reset_at

    def _admit(self) -> bool:
        """Let one call through or raise `CircuitOpen`; True when that call is the probe."""
        now = self._clock()
        state = self.state
        if state == "closed":
            return False
        if state == "half_open" and not self._probe_in_flight(now):
            self._probe_started = now
            return True
        raise CircuitOpen(self.provider, self.retry_in_s, self._why())

    def _why(self) -> str | None:
        if self.quota_reset_at is None:
            return None
        return f"quota spent until {self.quota_reset_at.isoformat(timespec='seconds')}"

    def _settle(self, error: BaseException | None, probe: bool) -> None:
        if probe:
            self._probe_started = None
        if error is None:
            self.consecutive_failures = 0
            self.opened_at = None
            self._open_for, self.quota_reset_at = self.cooldown_s, None
            return
        if isinstance(error, QuotaExhausted):
            self.hold_open(error.reset_at)
            return
        if not self._counts(error):
            return
        self.consecutive_failures += 1
        # A failed probe re-opens; so does a late failure from before the circuit opened,
        # if it lands while half-open. While open, late failures do not extend the cooldown.
        if self.state == "half_open" or (
            self.opened_at is None and self.consecutive_failures >= self.failure_threshold
        ):
            self.opened_at = self._clock()
            self._open_for, self.quota_reset_at = self.cooldown_s, None

    def _counts(self, error: BaseException) -> bool:
        return isinstance(error, self.failures) and not isinstance(error, CircuitOpen | Throttled)

    def _probe_in_flight(self, now: float) -> bool:
        # A probe whose caller vanished without settling frees its slot after `cooldown_s`.
        return self._probe_started is not None and now - self._probe_started < self.cooldown_s


class _Guard:
    """One admitted call; its outcome is scored when the `with` block exits."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker
        self._probe = False

    def __enter__(self) -> None:
        self._probe = self._breaker._admit()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._breaker._settle(exc, self._probe)

"""One provider's client behind its limiter, circuit breaker and retry policy (Ray-free).

A provider actor holds exactly one `ProviderService`; because it is the only caller of that
provider in the cluster, its limiter is cluster-wide. The service keeps the health figures
the API shows (plan, circuit, quota, budget left, last success, last error, counts by outcome).

Neither `PlanLimit` nor `QuotaExhausted` is retried. A spent quota holds the circuit open
until the quota resets (the router fails over meanwhile); a plan limit is about one request
and leaves the circuit alone.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from core import errors
from core.errors import ProviderError, QuotaExhausted, RateLimited
from core.providers import CLIENTS, HttpProviderClient
from core.providers.base import CONNECTION_LIMITS
from core.resilience import CircuitBreaker, CircuitOpen, LocalRateLimiter, Retrier, Throttled
from core.resilience.limiter import RateLimiter

MAX_IN_FLIGHT = CONNECTION_LIMITS.max_connections or 10
"""Requests sent to one provider at once: no more than its client's connection pool."""

# Most specific first: CircuitOpen is an Unavailable; Throttled, QuotaExhausted RateLimited.
_OUTCOMES: tuple[tuple[type[BaseException], str], ...] = (
    (CircuitOpen, "circuit_open"),
    (Throttled, "throttled"),
    (errors.QuotaExhausted, "quota_exhausted"),
    (errors.RateLimited, "rate_limited"),
    (errors.Timeout, "timeout"),
    (errors.Unavailable, "unavailable"),
    (errors.AuthError, "auth_error"),
    (errors.PlanLimit, "plan_limit"),
    (errors.NotFound, "not_found"),
    (errors.BadPayload, "bad_payload"),
)


def outcome_of(error: BaseException | None) -> str:
    """The `outcome` label for a call that ended with `error` (None: success)."""
    if error is None:
        return "ok"
    return next((label for cls, label in _OUTCOMES if isinstance(error, cls)), "error")


class ProviderConfigLike(Protocol):
    """What the service reads from `configs.sections.ProviderConfig`."""

    base_url: str
    timeout_s: float
    limits: Any
    retry: Any
    circuit: Any
    plan: Any  # `PlanConfig | None`


class Hooks(Protocol):
    """Where the service reports each request; the actor records them as metrics."""

    def request(self, provider: str, outcome: str, seconds: float) -> None: ...
    def ratelimit_wait(self, provider: str, seconds: float) -> None: ...
    def circuit(self, provider: str, is_open: bool) -> None: ...


class NoHooks:
    """Hooks that record nothing (tests, benchmarks' peers)."""

    def request(self, provider: str, outcome: str, seconds: float) -> None:
        """Ignore."""

    def ratelimit_wait(self, provider: str, seconds: float) -> None:
        """Ignore."""

    def circuit(self, provider: str, is_open: bool) -> None:
        """Ignore."""


@dataclass
class _Health:
    last_success_at: str | None = None
    last_error: dict[str, str] | None = None
    counts: Counter = field(default_factory=Counter)


class ProviderService:
    """Calls one provider: circuit guard → limiter slot → HTTP, retried under a deadline."""

    def __init__(
        self,
        name: str,
        client: HttpProviderClient,
        limiter: RateLimiter,
        breaker: CircuitBreaker,
        retrier: Retrier,
        *,
        hooks: Hooks | None = None,
        max_wait_s: float | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.name = name
        self.client = client
        self.limiter = limiter
        self.breaker = breaker
        self.retrier = retrier
        # With another provider to fail over to, one attempt here beats retrying a sick one.
        self.fail_fast = retrier.with_attempts(1)
        self.hooks = hooks or NoHooks()
        self.max_wait_s = max_wait_s
        # Calls beyond the client's connection pool wait here, outside the circuit's guard:
        # our own queue is not the provider's failure (httpx would time the pool wait out as
        # a Timeout, which the circuit counts), and the wait counts toward the call's deadline.
        self.max_in_flight = max_in_flight
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._health = _Health()

    @classmethod
    def build(
        cls,
        name: str,
        config: ProviderConfigLike,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        limiter: RateLimiter | None = None,
        hooks: Hooks | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> ProviderService:
        """A service from a provider's config; `base_url` overrides the config's (the sim)."""
        plan = getattr(config, "plan", None)
        options = getattr(CLIENTS[name], "client_options", None)  # e.g. rss: its feeds
        client = CLIENTS[name](
            base_url or config.base_url,
            api_key=api_key,
            timeout_s=config.timeout_s,
            plan=plan.tier if plan is not None else None,
            **(options(config) if options else {}),
        )
        return cls(
            name,
            client,
            limiter or LocalRateLimiter(name, config.limits),
            CircuitBreaker.from_config(name, config.circuit, clock=clock),
            Retrier.from_config(name, config.retry),
            hooks=hooks,
            max_wait_s=config.retry.deadline_s,
        )

    async def call(
        self, method: str, *args: Any, failover: bool = False, deadline_s: float | None = None
    ) -> Any:
        """`client.<method>(*args)` with limits, circuit and retries; typed errors on failure.

        `failover=True` (the caller has another provider): a single attempt, no retries.
        `deadline_s`: the caller's time left; the call (queueing included) ends by then with
        `Timeout`, which the circuit does not count (the caller gave up, not the provider).
        """
        fetch = getattr(self.client, method)
        give_up_at = math.inf if deadline_s is None else time.monotonic() + deadline_s

        async def attempt() -> Any:
            self.breaker.check()  # an open circuit refuses before the call queues for a slot
            async with self._in_flight:
                return await admitted()

        async def admitted() -> Any:
            with self.breaker.guard():
                waited = await self.limiter.acquire(max_wait_s=self._max_wait(give_up_at))
                self.hooks.ratelimit_wait(self.name, waited)
                if self.breaker.state == "open":  # opened while we queued: send nothing
                    raise CircuitOpen(self.name, self.breaker.retry_in_s)
                started = time.monotonic()
                try:
                    result = await fetch(*args)
                except ProviderError as err:
                    # A spent quota is the circuit's to hold (until its reset), not a pause
                    # of the limiter's; a bare rate limit without a hint pauses one second.
                    if isinstance(err, RateLimited) and not isinstance(err, QuotaExhausted):
                        await self.limiter.penalize(err.retry_after or 1.0)
                    self._record(err, time.monotonic() - started)
                    raise
                self._record(None, time.monotonic() - started)
                return result

        try:
            retrier = self.fail_fast if failover else self.retrier
            return await retrier.call_within(deadline_s, attempt)
        except (CircuitOpen, Throttled) as err:  # nothing was sent; count it all the same
            self._record(err, 0.0)
            raise
        finally:
            self.hooks.circuit(self.name, self.breaker.state != "closed")

    def _max_wait(self, give_up_at: float) -> float | None:
        # A limiter slot later than the caller's deadline is refused now (Throttled): with a
        # fallback, the router moves on at once instead of waiting for a slot it cannot use.
        left = min(self.max_wait_s or math.inf, give_up_at - time.monotonic())
        return None if left == math.inf else max(left, 0.0)

    def _record(self, error: ProviderError | None, seconds: float) -> None:
        outcome = outcome_of(error)
        self._health.counts[outcome] += 1
        now = datetime.now(UTC).isoformat()
        if error is None:
            self._health.last_success_at = now
        else:
            self._health.last_error = {"at": now, "type": outcome, "message": str(error)[:300]}
        self.hooks.request(self.name, outcome, seconds)

    def quota(self) -> dict[str, Any]:
        """Whether a spent quota holds the circuit open, and until when (UTC, ISO 8601)."""
        reset_at = self.breaker.quota_reset_at
        if reset_at is None or reset_at <= datetime.now(UTC):
            return {"exhausted": False, "reset_at": None}
        return {"exhausted": True, "reset_at": reset_at.isoformat()}

    async def health(self) -> dict[str, Any]:
        """Plan, circuit, quota, limiter budget left, last success and error, counts."""
        return {
            "provider": self.name,
            "enabled": True,
            "plan": getattr(self.client, "plan", None),
            "circuit": self.breaker.snapshot(),
            "quota": self.quota(),
            "budget": await self.limiter.budget(),
            "last_success_at": self._health.last_success_at,
            "last_error": self._health.last_error,
            "counts": dict(self._health.counts),
        }

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

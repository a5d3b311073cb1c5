"""Rate limiting, retries and circuit breaking for one provider, free of Ray.

A provider actor holds one of each and composes them per call, outermost first::

    async def attempt(query):
        circuit.check()                         # open: refuse before queueing
        async with slots:                       # our own queue: never the provider's fault
            with circuit.guard():               # CircuitOpen: fail over at once
                await limiter.acquire(max_wait_s=left)  # Throttled: nothing was sent
                try:
                    return await client.fetch(query)
                except RateLimited as err:
                    await limiter.penalize(err.retry_after or 1.0)
                    raise

    rows = await retrier.call_within(left, attempt, query)  # backoff within the deadline

Each retry is a new request, so it takes a new limiter slot and passes the circuit again.
"""

from core.resilience.circuit import HEALTH_FAILURES, CircuitBreaker
from core.resilience.clock import REAL_CLOCK, Clock, MonotonicClock
from core.resilience.errors import CircuitOpen, Throttled
from core.resilience.limiter import DEFAULT_MARGIN_S, LocalRateLimiter, RateLimiter, Window
from core.resilience.redis_limiter import RedisRateLimiter
from core.resilience.retry import Retrier

__all__ = [
    "DEFAULT_MARGIN_S",
    "HEALTH_FAILURES",
    "REAL_CLOCK",
    "CircuitBreaker",
    "CircuitOpen",
    "Clock",
    "LocalRateLimiter",
    "MonotonicClock",
    "RateLimiter",
    "RedisRateLimiter",
    "Retrier",
    "Throttled",
    "Window",
]

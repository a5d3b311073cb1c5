"""Per-key request limits for the API: a sliding minute per key, answered with 429.

With Redis configured, one budget per key is shared by every replica (the provider limiters'
Lua sliding log); otherwise each replica keeps its own, so N replicas admit up to N times
the limit. Either way a refused request waits for nothing: it gets `Retry-After` at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from core.resilience.limiter import LocalRateLimiter, RateLimiter, Window
from core.resilience.redis_limiter import RedisRateLimiter

MAX_LOCAL_KEYS = 10_000  # least recently used keys beyond this lose their (short) history


class KeyRateLimits:
    """`per_minute` requests per API key in any 60 s; 0 turns the limit off."""

    def __init__(self, per_minute: int, redis: Any = None) -> None:
        self.per_minute = per_minute
        self._redis = redis
        self._limiters: OrderedDict[str, RateLimiter] = OrderedDict()

    async def check(self, key_id: str) -> float:
        """Admit one request of this key (0.0) or return the seconds until one would be."""
        if self.per_minute <= 0:
            return 0.0
        return await self._limiter(key_id).try_acquire()

    def _limiter(self, key_id: str) -> RateLimiter:
        limiter = self._limiters.get(key_id)
        if limiter is None:
            windows = [Window(self.per_minute, 60.0)]
            if self._redis is not None:
                limiter = RedisRateLimiter(
                    self._redis, key_id, windows, 0.0, "stockray:api-limit:", pace=False
                )
            else:  # no margin: it absorbs a provider's clock jitter, there is none here
                limiter = LocalRateLimiter(key_id, windows, 0.0, pace=False)
            self._limiters[key_id] = limiter
            while len(self._limiters) > MAX_LOCAL_KEYS:
                self._limiters.popitem(last=False)
        else:
            self._limiters.move_to_end(key_id)
        return limiter


class FailedAuthLimits:
    """Failed key attempts per key prefix and per client address, each `per_minute` in any
    60 s; beyond that the prefix or address gets 429 without a verification for the rest of
    the window. Keys already verified on this replica are never held back (an attacker
    sharing an address with good clients, e.g. behind a proxy, cannot lock them out).

    Failures are counted in Redis when configured (every replica sees them); the hold is
    kept per replica, which learns of it on the next failure it sees.
    """

    def __init__(self, per_minute: int, redis: Any = None) -> None:
        self._counts = KeyRateLimits(per_minute, redis)
        self._held: OrderedDict[str, float] = OrderedDict()  # bucket -> monotonic until

    def held(self, buckets: list[str]) -> float:
        """Seconds until the first of `buckets` may try again (0.0: none is held)."""
        now = time.monotonic()
        wait = 0.0
        for bucket in buckets:
            until = self._held.get(bucket)
            if until is not None and until <= now:
                del self._held[bucket]
            elif until is not None:
                wait = max(wait, until - now)
        return wait

    async def failed(self, buckets: list[str]) -> None:
        """Count one failed attempt against each bucket; hold those over the limit."""
        for bucket in buckets:
            wait = await self._counts.check(f"authfail:{bucket}")
            if wait > 0:
                self._held[bucket] = time.monotonic() + wait
                self._held.move_to_end(bucket)
                while len(self._held) > MAX_LOCAL_KEYS:
                    self._held.popitem(last=False)

"""Per-key request limits for the API: a sliding minute per key, answered with 429.

One `KeyLimits` is chosen when the context is built (`key_limits`): with Redis configured,
one budget per key is shared by every replica (the provider limiters' Lua sliding log) and
the replica's own serves while Redis does not answer; otherwise each replica keeps its own,
so N replicas admit up to N times the limit. Either way a refused request waits for
nothing: it gets `Retry-After` at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from core.resilience.limiter import LocalRateLimiter, RateLimiter, Window
from core.resilience.redis_limiter import RedisRateLimiter
from serve_app.redis_fallback import RedisFallback

MAX_LOCAL_KEYS = 10_000  # least recently used keys beyond this lose their (short) history
WINDOW_S = 60.0


class KeyLimits(Protocol):
    """`per_minute` requests per key in any 60 s (0: no limit)."""

    per_minute: int

    async def check(self, key_id: str) -> float:
        """Admit one request of this key (0.0) or return the seconds until one would be."""
        ...


class KeyRateLimits:
    """A sliding-log limiter per key, made by `limiter_for`; the least recently used keys
    beyond `MAX_LOCAL_KEYS` are forgotten."""

    def __init__(self, per_minute: int, limiter_for: Callable[[str], RateLimiter]) -> None:
        self.per_minute = per_minute
        self._limiter_for = limiter_for
        self._limiters: OrderedDict[str, RateLimiter] = OrderedDict()

    async def check(self, key_id: str) -> float:
        """Admit one request of this key (0.0) or return the seconds until one would be."""
        if self.per_minute <= 0:
            return 0.0
        return await self._limiter(key_id).try_acquire()

    def _limiter(self, key_id: str) -> RateLimiter:
        limiter = self._limiters.get(key_id)
        if limiter is None:
            limiter = self._limiters[key_id] = self._limiter_for(key_id)
            while len(self._limiters) > MAX_LOCAL_KEYS:
                self._limiters.popitem(last=False)
        else:
            self._limiters.move_to_end(key_id)
        return limiter


def local_key_limits(per_minute: int) -> KeyRateLimits:
    """The replica's own per-key limits."""
    windows = [Window(per_minute, WINDOW_S)]
    # No margin: it absorbs a provider's clock jitter, there is none here.
    return KeyRateLimits(per_minute, lambda key: LocalRateLimiter(key, windows, 0.0, pace=False))


def redis_key_limits(per_minute: int, redis: Any) -> KeyRateLimits:
    """Per-key limits in Redis, shared by every replica."""
    windows = [Window(per_minute, WINDOW_S)]
    prefix = "stockray:api-limit:"
    return KeyRateLimits(
        per_minute, lambda key: RedisRateLimiter(redis, key, windows, 0.0, prefix, pace=False)
    )


class FallbackKeyLimits:
    """`shared` (Redis) limits, and the replica's `local` ones while Redis does not answer."""

    def __init__(self, shared: KeyLimits, local: KeyLimits, fallback: RedisFallback) -> None:
        self.per_minute = shared.per_minute
        self._shared, self._local, self._fallback = shared, local, fallback

    async def check(self, key_id: str) -> float:
        """Admit one request of this key (0.0) or return the seconds until one would be."""
        return await self._fallback.call(
            lambda: self._shared.check(key_id), lambda: self._local.check(key_id)
        )


def key_limits(
    per_minute: int, redis: Any = None, fallback: RedisFallback | None = None
) -> KeyLimits:
    """Redis-shared limits (falling back to the replica's) when `redis` is given, else the
    replica's own."""
    local = local_key_limits(per_minute)
    if redis is None:
        return local
    return FallbackKeyLimits(
        redis_key_limits(per_minute, redis), local, fallback or RedisFallback()
    )


class FailedAuthLimits:
    """Failed key attempts per key prefix and per client address, each `counts.per_minute`
    in any 60 s; beyond that the prefix or address gets 429 without a verification for the
    rest of the window. Keys already verified on this replica are never held back (an
    attacker sharing an address with good clients, e.g. behind a proxy, cannot lock them out).

    Failures are counted by `counts` (in Redis when configured: every replica sees them);
    the hold is kept per replica, which learns of it on the next failure it sees.
    """

    def __init__(self, counts: KeyLimits) -> None:
        self._counts = counts
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

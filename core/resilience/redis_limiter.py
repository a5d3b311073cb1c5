"""The sliding-log limiter shared through Redis, for processes and clusters sharing one key.

Every decision is one Lua script run atomically by Redis, timed by the server's own clock
(`TIME`), so clients with skewed clocks still agree. Times are integer microseconds,
which doubles (Lua's only number type) hold exactly. A provider's log and pause keys share
the hash tag `{provider}`, so they live in one slot of a Redis Cluster.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterable

from redis.asyncio import Redis

from core.resilience.clock import REAL_CLOCK, Clock
from core.resilience.limiter import (
    DEFAULT_MARGIN_S,
    AdaptiveMargin,
    RateLimitLike,
    acquire_in_turn,
    pace_gap_s,
    to_windows,
)

# KEYS: log zset, pause key. ARGV: member, margin_us, pace_us, then (requests, per_us) per
# window. Returns {admitted 0/1, wait_us, now_us}. The window admits when its `requests`-th
# newest admission is at least `per_us + margin_us` old, and the newest is `pace_us` old.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local margin = tonumber(ARGV[2])
local pace = tonumber(ARGV[3])
local wait = 0
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then wait = pause - now end
local newest = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) + pace - now > wait then
  wait = tonumber(newest[2]) + pace - now
end
local longest = 0
for i = 4, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  local span = tonumber(ARGV[i + 1]) + margin
  if span > longest then longest = span end
  local nth = redis.call('ZREVRANGE', KEYS[1], limit - 1, limit - 1, 'WITHSCORES')
  if nth[2] and tonumber(nth[2]) + span - now > wait then
    wait = tonumber(nth[2]) + span - now
  end
end
if wait > 0 then return {0, wait, now} end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
redis.call('PEXPIRE', KEYS[1], math.ceil(longest / 1000) + 1000)
return {1, 0, now}
"""

# KEYS: pause key. ARGV: pause_us. Moves the pause end later, never earlier.
_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(ARGV[1])
local until_us = now + pause
if until_us > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], until_us, 'PX', math.ceil(pause / 1000) + 1000)
end
return until_us
"""

# KEYS: log zset, pause key. ARGV: margin_us, then (requests, per_us) per window.
# Returns the admissions used per window, then the pause left (us).
_BUDGET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local margin = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 2 do
  local span = tonumber(ARGV[i + 1]) + margin
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1], now - span + 1, '+inf')
end
local pause = tonumber(redis.call('GET', KEYS[2]) or '0') - now
if pause < 0 then pause = 0 end
out[#out + 1] = pause
return out
"""

_US = 1_000_000


class RedisRateLimiter:
    """A sliding-log limiter whose log lives in Redis under `{key_prefix}{{provider}}`.

    Every process using the same key and the same limits shares one budget.
    """

    def __init__(
        self,
        redis: Redis,
        provider: str,
        limits: Iterable[RateLimitLike],
        margin_s: float = DEFAULT_MARGIN_S,
        key_prefix: str = "stockray:ratelimit:",
        pace: bool = True,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.provider = provider
        self._clock = clock  # this process's waits; the windows run on Redis's own clock
        self.margin_s = margin_s
        self._windows = to_windows(limits, margin_s)
        base = f"{key_prefix}{{{provider}}}"
        self.log_key, self.pause_key = f"{base}:log", f"{base}:pause"
        self.margin = AdaptiveMargin(margin_s)  # this process's: widened by its own 429s
        # As in LocalRateLimiter: spread the shortest window's budget instead of bursting it.
        self._pace_us = math.floor(pace_gap_s(self._windows) * _US) if pace else 0
        self._window_args: list[int] = []
        for w in self._windows:
            self._window_args += [w.requests, math.ceil(w.per_s * _US)]
        self._acquire = redis.register_script(_ACQUIRE)
        self._penalize = redis.register_script(_PENALIZE)
        self._budget = redis.register_script(_BUDGET)
        # Within one process only the head of the queue polls Redis; the rest wait their turn.
        self._turn = asyncio.Lock()

    async def acquire(self, max_wait_s: float | None = None) -> float:
        """Wait until every window admits one call; return the seconds waited.

        With `max_wait_s`, raise `Throttled` instead of waiting longer than that.
        """
        return await acquire_in_turn(
            self, self.provider, self._clock, self._turn, max_wait_s, self._pause_hint
        )

    async def try_acquire(self) -> float:
        """Admit one call now if every window allows it (return 0.0), else return the
        seconds until one would be admitted; one script call, no queueing in this process."""
        admitted, wait_us, _ = await self._acquire(
            keys=[self.log_key, self.pause_key],
            args=[uuid.uuid4().hex, self._margin_us, self._pace_us, *self._window_args],
        )
        if admitted:
            self.margin.admitted()
        return 0.0 if admitted else int(wait_us) / _US

    async def penalize(self, retry_after_s: float) -> None:
        """Admit nothing, in any process sharing the key, for `retry_after_s` seconds; widen
        this process's margin (the provider refused a call the windows admitted)."""
        self.margin.widen()
        pause_us = math.ceil(max(retry_after_s, 0.0) * _US)
        await self._penalize(keys=[self.pause_key], args=[pause_us])

    async def budget(self) -> dict[str, float]:
        """Admissions left per window right now, by label, plus `paused_s`."""
        *used, pause_us = await self._budget(
            keys=[self.log_key, self.pause_key], args=[self._margin_us, *self._window_args]
        )
        left: dict[str, float] = {
            w.label: w.requests - int(n) for w, n in zip(self._windows, used, strict=True)
        }
        left["paused_s"] = int(pause_us) / _US
        return left

    @property
    def _margin_us(self) -> int:
        return math.ceil(self.margin.value_s * _US)

    async def _pause_hint(self) -> float:
        # A lower bound on the wait, for a caller that timed out queueing behind others.
        left = await self.budget()
        return left["paused_s"]

"""The Redis-shared sliding-log limiter, within one process and across two."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from configs.sections import RateLimit
from core.resilience import RedisRateLimiter, Throttled
from core.resilience.limiter import DEFAULT_MARGIN_S, PACE_FRACTION
from tests.unit.resilience.windows import assert_sliding

# The limiter uses its window, not idles (a bug waiting a whole window would halve this).
# How close to the limit it gets is measured by `python -m bench.providers`; a loaded
# machine (CI beside other work) slows the event loop, so this only guards against idling.
MIN_USE = 0.8

SHORT = RateLimit(requests=20, per_s=0.5)
# Long enough that no admission of a test is pruned from the log the test reads back.
LONG = RateLimit(requests=1000, per_s=60)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _provider() -> str:
    return f"p-{uuid.uuid4().hex[:8]}"  # a fresh key per test: the server is session-wide


async def _admission_times(redis: Redis, limiter: RedisRateLimiter) -> list[float]:
    """Admission times in seconds of the Redis clock, read back from the limiter's log."""
    entries = await redis.zrange(limiter.log_key, 0, -1, withscores=True)
    return [score / 1e6 for _, score in entries]


async def test_concurrent_acquirers_never_exceed_the_shared_window(redis: Redis) -> None:
    provider = _provider()
    # Two limiters on one key stand in for two actors; margin 0 tests the exact edge.
    limiters = [
        RedisRateLimiter(redis, provider, [SHORT, LONG], margin_s=0, pace=False) for _ in range(2)
    ]

    async def worker(limiter: RedisRateLimiter) -> None:
        for _ in range(2):
            await limiter.acquire()

    await asyncio.gather(*(worker(limiters[i % 2]) for i in range(50)))

    times = await _admission_times(redis, limiters[0])
    assert len(times) == 100
    assert_sliding(times, 20, 0.5)
    achieved = (len(times) - 20) / (max(times) - min(times))
    assert achieved / (20 / 0.5) >= MIN_USE


async def test_paced_limiters_share_one_even_schedule(redis: Redis) -> None:
    provider = _provider()
    limiters = [RedisRateLimiter(redis, provider, [SHORT, LONG], margin_s=0) for _ in range(2)]

    async def worker(limiter: RedisRateLimiter) -> None:
        for _ in range(2):
            await limiter.acquire()

    await asyncio.gather(*(worker(limiters[i % 2]) for i in range(50)))

    times = sorted(await _admission_times(redis, limiters[0]))
    assert len(times) == 100
    assert_sliding(times, 20, 0.5)
    assert (
        min(b - a for a, b in itertools.pairwise(times)) >= PACE_FRACTION * 0.5 / 20 - 1e-6
    )  # no bursts
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved / (20 / 0.5) >= MIN_USE


async def test_penalize_pauses_every_limiter_on_the_key(redis: Redis) -> None:
    provider = _provider()
    first, second = (RedisRateLimiter(redis, provider, [SHORT]) for _ in range(2))
    await first.penalize(0.3)
    await first.penalize(0.05)  # a shorter penalty never shortens the pause

    assert 0.25 < (await second.budget())["paused_s"] <= 0.3
    assert await second.acquire() >= 0.25


async def test_budget_reports_each_window(redis: Redis) -> None:
    limits = [RateLimit(requests=5, per_s=1), RateLimit(requests=10, per_s=60)]
    limiter = RedisRateLimiter(redis, _provider(), limits)
    for _ in range(3):
        await limiter.acquire()

    assert await limiter.budget() == {"5/1s": 2, "10/60s": 7, "paused_s": 0.0}


async def test_max_wait_refuses_when_the_window_is_spent(redis: Redis) -> None:
    limiter = RedisRateLimiter(redis, _provider(), [RateLimit(requests=2, per_s=10)], pace=False)
    await limiter.acquire()
    await limiter.acquire()

    with pytest.raises(Throttled) as caught:
        await limiter.acquire(max_wait_s=0.5)
    assert 9.5 < caught.value.retry_after <= 10 + DEFAULT_MARGIN_S


async def test_key_prefix_and_hash_tag(redis: Redis) -> None:
    limiter = RedisRateLimiter(redis, "yahoo", [SHORT], key_prefix=f"t{uuid.uuid4().hex}:")
    await limiter.acquire()
    assert limiter.log_key.endswith(":{yahoo}:log")
    assert await redis.zcard(limiter.log_key) == 1
    assert 0 < await redis.pttl(limiter.log_key) <= 1600


def _hammer(url: str, provider: str, seconds: float, counts: multiprocessing.Queue) -> None:
    """In a child process: ten tasks acquire on the shared key for `seconds`."""

    async def main() -> int:
        client = Redis.from_url(url)
        limiter = RedisRateLimiter(client, provider, [SHORT, LONG], margin_s=0)
        stop_at = time.monotonic() + seconds
        admitted = 0

        async def worker() -> None:
            nonlocal admitted
            while time.monotonic() < stop_at:
                await limiter.acquire()
                admitted += 1

        await asyncio.gather(*(worker() for _ in range(10)))
        await client.aclose()
        return admitted

    counts.put(asyncio.run(main()))


async def test_two_processes_share_one_limit(redis: Redis, redis_url: str) -> None:
    provider = _provider()
    spawn = multiprocessing.get_context("spawn")
    counts = spawn.Queue()
    procs = [spawn.Process(target=_hammer, args=(redis_url, provider, 2.0, counts)) for _ in "ab"]
    for proc in procs:
        proc.start()
    per_process = [await asyncio.to_thread(counts.get, timeout=30) for _ in procs]
    for proc in procs:
        await asyncio.to_thread(proc.join, 10)
        assert proc.exitcode == 0

    times = await _admission_times(redis, RedisRateLimiter(redis, provider, [SHORT]))
    assert len(times) == sum(per_process)
    assert all(n > 0 for n in per_process)
    assert_sliding(times, 20, 0.5)
    assert len(times) >= 0.95 * 20 * (2.0 / 0.5)

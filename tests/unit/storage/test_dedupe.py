"""First-seen checks: the same contract for Redis (real server) and memory."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from core.storage.dedupe import Dedupe, MemoryDedupe, RedisDedupe


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(params=["redis", "memory"])
async def dedupe(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Dedupe]:
    if request.param == "memory":
        yield MemoryDedupe(ttl_s=1)
        return
    client = Redis.from_url(redis_url)
    yield RedisDedupe(client, ttl_s=1, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    await client.aclose()


async def test_first_claim_wins_and_repeats_in_a_call_are_not_first(dedupe: Dedupe) -> None:
    assert await dedupe.first_seen(["a", "b", "a", "c", "b"]) == [True, True, False, True, False]
    assert await dedupe.first_seen(["c", "d"]) == [False, True]
    assert await dedupe.first_seen([]) == []


async def test_concurrent_claims_of_one_fingerprint_have_one_winner(dedupe: Dedupe) -> None:
    results = await asyncio.gather(*(dedupe.first_seen(["x"]) for _ in range(20)))
    assert sum(r[0] for r in results) == 1


async def test_forget_releases_claims(dedupe: Dedupe) -> None:
    await dedupe.first_seen(["a", "b"])
    await dedupe.forget(["a", "never-claimed"])
    await dedupe.forget([])
    assert await dedupe.first_seen(["a", "b"]) == [True, False]


async def test_claims_expire_after_the_ttl(dedupe: Dedupe) -> None:
    assert await dedupe.first_seen(["a"]) == [True]
    await asyncio.sleep(0.3)
    assert await dedupe.first_seen(["a", "b"]) == [False, True]
    await asyncio.sleep(0.85)  # "a" expired, "b" still held
    assert await dedupe.first_seen(["a", "b"]) == [True, False]


async def test_redis_keys_carry_the_prefix_and_ttl(redis: Redis) -> None:
    dedupe = RedisDedupe(redis, ttl_s=60, prefix="test:ttl:")
    await dedupe.first_seen(["k"])
    assert 59_000 < await redis.pttl("test:ttl:k") <= 60_000
    await dedupe.forget(["k"])


def test_memory_purges_expired_claims_and_stays_bounded() -> None:
    clock = FakeClock()
    dedupe = MemoryDedupe(ttl_s=10, max_entries=3, clock=clock)
    asyncio.run(dedupe.first_seen(["a", "b"]))
    clock.now += 11
    asyncio.run(dedupe.first_seen(["c"]))
    assert len(dedupe) == 1  # "a" and "b" purged
    asyncio.run(dedupe.first_seen(["d", "e", "f"]))
    assert len(dedupe) == 3  # "c", the oldest, dropped early
    assert asyncio.run(dedupe.first_seen(["c", "f"])) == [True, False]

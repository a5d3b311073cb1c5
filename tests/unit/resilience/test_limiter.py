"""The in-process sliding-log limiter, on a fake clock: no test sleeps or reads real time."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from configs.sections import RateLimit
from core.errors import RateLimited
from core.resilience import LocalRateLimiter, Throttled
from core.resilience.limiter import (
    DEFAULT_MARGIN_S,
    MARGIN_CALM_ADMISSIONS,
    MARGIN_MAX_EXTRA_S,
    MARGIN_STEP_S,
    PACE_FRACTION,
    AdaptiveMargin,
    Window,
    pace_gap_s,
)
from tests.unit.resilience.fake_clock import FakeClock
from tests.unit.resilience.windows import assert_sliding

# The limiter uses its window, not idles (a bug waiting a whole window would halve this).
# How close to the limit it gets is measured by `python -m bench.providers`; a loaded
# machine (CI beside other work) slows the event loop, so this only guards against idling.
MIN_USE = 0.8


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _hammer(
    limiter: LocalRateLimiter, clock: FakeClock, tasks: int, each: int
) -> list[float]:
    admitted: list[float] = []

    async def worker() -> None:
        for _ in range(each):
            await limiter.acquire()
            admitted.append(clock.now())

    await clock.run(asyncio.gather(*(worker() for _ in range(tasks))))
    return admitted


async def test_paced_admissions_are_evenly_spread_at_the_limit_rate(clock: FakeClock) -> None:
    limits = [RateLimit(requests=20, per_s=0.5)]
    limiter = LocalRateLimiter("p", limits, margin_s=0.001, clock=clock)
    times = sorted(await _hammer(limiter, clock, tasks=50, each=2))

    assert len(times) == 100
    assert_sliding(times, 20, 0.5)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= PACE_FRACTION * 0.5 / 20 - 1e-6  # no bursts
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved / (20 / 0.5) >= MIN_USE


async def test_concurrent_acquirers_never_exceed_and_saturate_the_window(clock: FakeClock) -> None:
    limits = [RateLimit(requests=20, per_s=0.5)]
    limiter = LocalRateLimiter("p", limits, margin_s=0.001, pace=False, clock=clock)
    times = await _hammer(limiter, clock, tasks=50, each=2)

    assert len(times) == 100
    assert_sliding(times, 20, 0.5)
    # Full bursts every 0.5 s: everything beyond the first burst at (nearly) the limit rate.
    achieved = (len(times) - 20) / (max(times) - min(times))
    assert achieved / (20 / 0.5) >= MIN_USE


async def test_the_longer_window_kicks_in(clock: FakeClock) -> None:
    limits = [RateLimit(requests=5, per_s=0.1), RateLimit(requests=12, per_s=0.6)]
    limiter = LocalRateLimiter("p", limits, margin_s=0.001, clock=clock)
    times = sorted(await _hammer(limiter, clock, tasks=24, each=1))

    assert_sliding(times, 5, 0.1)
    assert_sliding(times, 12, 0.6)
    assert times[11] - times[0] < 0.35  # three short bursts ...
    assert times[12] - times[0] >= 0.6  # ... then the 0.6 s window holds the 13th back


async def test_penalize_pauses_all_admissions(clock: FakeClock) -> None:
    limiter = LocalRateLimiter("p", [RateLimit(requests=20, per_s=0.5)], clock=clock)
    await limiter.penalize(0.3)
    await limiter.penalize(0.05)  # a shorter penalty never shortens the pause

    assert 0.25 < (await limiter.budget())["paused_s"] <= 0.3
    waited = await clock.run(limiter.acquire())
    assert waited >= 0.29
    assert (await limiter.budget())["paused_s"] == 0.0


async def test_penalize_reaches_a_caller_already_waiting(clock: FakeClock) -> None:
    limiter = LocalRateLimiter("p", [RateLimit(requests=2, per_s=0.2)], margin_s=0.0, clock=clock)
    await clock.run(limiter.acquire())
    await clock.run(limiter.acquire())  # paced: 0.09 s after the first
    waiter = asyncio.create_task(limiter.acquire())
    await clock.advance(0.05)
    await limiter.penalize(0.4)

    assert await clock.run(waiter) >= 0.44


async def test_budget_reports_each_window(clock: FakeClock) -> None:
    limits = [RateLimit(requests=5, per_s=1), RateLimit(requests=10, per_s=60)]
    limiter = LocalRateLimiter("p", limits, clock=clock)
    for _ in range(3):
        await clock.run(limiter.acquire())

    assert await limiter.budget() == {"5/1s": 2, "10/60s": 7, "paused_s": 0.0}


async def test_max_wait_refuses_at_once_when_the_window_is_spent(clock: FakeClock) -> None:
    limiter = LocalRateLimiter("p", [RateLimit(requests=2, per_s=10)], pace=False, clock=clock)
    await limiter.acquire()
    await limiter.acquire()

    start = clock.now()
    with pytest.raises(Throttled) as caught:
        await clock.run(limiter.acquire(max_wait_s=0.05))
    assert clock.now() - start < 0.05
    assert isinstance(caught.value, RateLimited)
    assert 9.9 < caught.value.retry_after <= 10 + DEFAULT_MARGIN_S


async def test_max_wait_bounds_the_time_spent_queueing(clock: FakeClock) -> None:
    limiter = LocalRateLimiter("p", [RateLimit(requests=1, per_s=0.3)], margin_s=0.0, clock=clock)
    await limiter.acquire()
    head = asyncio.create_task(limiter.acquire())  # holds the queue until ~0.3 s
    await asyncio.sleep(0)

    start = clock.now()
    with pytest.raises(Throttled):
        await clock.run(limiter.acquire(max_wait_s=0.1))
    assert clock.now() - start < 0.2
    await clock.run(head)


async def test_a_cancelled_waiter_takes_no_slot_and_frees_the_queue(clock: FakeClock) -> None:
    limiter = LocalRateLimiter("p", [RateLimit(requests=1, per_s=0.2)], margin_s=0.0, clock=clock)
    await limiter.acquire()
    doomed = asyncio.create_task(limiter.acquire())
    await clock.advance(0.05)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed

    assert 0.1 < await clock.run(limiter.acquire()) < 0.2
    assert (await limiter.budget())["1/0.2s"] == 0


async def test_no_limits_admit_at_once(clock: FakeClock) -> None:
    limiter = LocalRateLimiter("p", [], clock=clock)
    assert await limiter.acquire() < 0.01
    assert await limiter.budget() == {"paused_s": 0.0}


@pytest.mark.parametrize(
    ("limits", "margin_s"),
    [([RateLimit(requests=1, per_s=1)], -0.1), ([type("L", (), {"requests": 0, "per_s": 1})], 0)],
)
def test_bad_limits_are_refused(limits: list, margin_s: float) -> None:
    with pytest.raises(ValueError):
        LocalRateLimiter("p", limits, margin_s=margin_s)


def test_only_short_windows_are_paced() -> None:
    assert pace_gap_s([Window(5, 1), Window(2000, 3600)]) == pytest.approx(PACE_FRACTION * 0.2)
    assert pace_gap_s([Window(100, 86400)]) == 0  # a daily quota is not spread over the day
    assert pace_gap_s([]) == 0


async def test_a_daily_quota_admits_a_planned_burst_at_once(clock: FakeClock) -> None:
    # NewsAPI's 100 a day: a cycle's ten requests go out together, the 101st is refused.
    limiter = LocalRateLimiter("newsapi", [RateLimit(requests=100, per_s=86400)], clock=clock)
    waits = [await limiter.try_acquire() for _ in range(100)]
    assert waits == [0.0] * 100
    assert await limiter.try_acquire() > 86000


async def test_a_providers_429_widens_the_margin_and_calm_narrows_it(clock: FakeClock) -> None:
    limits = [RateLimit(requests=5, per_s=1)]
    limiter = LocalRateLimiter("p", limits, margin_s=0.05, pace=False, clock=clock)
    for _ in range(5):
        assert await limiter.try_acquire() == 0.0
    before = await limiter.try_acquire()  # the 6th waits out the window and its margin
    assert 1.0 < before <= 1.05
    await limiter.penalize(0.0)  # the provider refused one: it saw them closer than we sent
    assert limiter.margin.extra_s == pytest.approx(MARGIN_STEP_S)
    after = await limiter.try_acquire()
    assert after == pytest.approx(before + MARGIN_STEP_S, abs=0.01)
    for _ in range(10):
        await limiter.penalize(0.0)
    assert limiter.margin.extra_s == pytest.approx(MARGIN_MAX_EXTRA_S)  # bounded
    calm = AdaptiveMargin(0.05, extra_s=0.02)
    narrowed = [calm.admitted() for _ in range(MARGIN_CALM_ADMISSIONS)]
    assert narrowed.count(True) == 1 and calm.extra_s == pytest.approx(0.01)

"""Retrier: full-jitter backoff, retry_after, deadline, permanent errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from configs.sections import RetryPolicy
from core.errors import AuthError, BadPayload, NotFound, RateLimited, Timeout, Unavailable
from core.resilience import CircuitOpen, Retrier


class Script:
    """An async callable that raises the queued errors in turn, then returns `ok`."""

    def __init__(self, *errors: BaseException, forever: BaseException | None = None) -> None:
        self.errors = list(errors)
        self.forever = forever
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        if self.forever is not None:
            raise self.forever
        return "ok"


def recording_sleep() -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return slept, sleep


def down() -> Unavailable:
    return Unavailable("p", "503")


async def test_backoff_is_full_jitter_within_the_exponential_cap() -> None:
    slept, sleep = recording_sleep()
    reported: list[tuple[int, float]] = []
    retrier = Retrier(
        "p",
        max_attempts=6,
        base_delay_s=0.1,
        max_delay_s=0.5,
        deadline_s=100,
        on_retry=lambda attempt, error, delay: reported.append((attempt, delay)),
        sleep=sleep,
    )
    for _ in range(200):
        with pytest.raises(Unavailable):
            await retrier.call(Script(forever=down()))

    assert [delay for _, delay in reported] == slept
    caps = {1: 0.1, 2: 0.2, 3: 0.4, 4: 0.5, 5: 0.5}
    for attempt, cap in caps.items():
        delays = [delay for a, delay in reported if a == attempt]
        assert len(delays) == 200
        assert all(0 <= d <= cap for d in delays)
        # Full jitter spreads over the whole range, not just near the cap.
        assert min(delays) < 0.2 * cap and max(delays) > 0.8 * cap


async def test_success_after_transient_errors() -> None:
    _, sleep = recording_sleep()
    fn = Script(down(), Timeout("p", "slow"), RateLimited("p", "429"))
    retrier = Retrier("p", max_attempts=4, sleep=sleep)
    assert await retrier.call(fn) == "ok"
    assert fn.calls == 4


async def test_max_attempts_then_the_last_error() -> None:
    slept, sleep = recording_sleep()
    last = Timeout("p", "third")
    fn = Script(down(), down(), last, forever=down())
    with pytest.raises(Timeout) as caught:
        await Retrier("p", max_attempts=3, sleep=sleep).call(fn)
    assert caught.value is last
    assert fn.calls == 3 and len(slept) == 2


@pytest.mark.parametrize(
    "error",
    [
        AuthError("p", "401"),
        NotFound("p", "no such symbol"),
        BadPayload("p", "truncated", field="close"),
        CircuitOpen("p", 5.0),
        ValueError("a bug, not a provider error"),
    ],
)
async def test_permanent_errors_are_not_retried(error: Exception) -> None:
    slept, sleep = recording_sleep()
    fn = Script(error)
    with pytest.raises(type(error)):
        await Retrier("p", max_attempts=5, sleep=sleep).call(fn)
    assert fn.calls == 1 and slept == []


async def test_retry_after_is_a_floor_for_the_delay() -> None:
    slept, sleep = recording_sleep()
    fn = Script(RateLimited("p", "429", retry_after=0.7))
    retrier = Retrier("p", base_delay_s=0.01, max_delay_s=0.05, sleep=sleep)
    assert await retrier.call(fn) == "ok"
    assert slept == [0.7]


async def test_a_retry_after_past_the_deadline_gives_up_at_once() -> None:
    slept, sleep = recording_sleep()
    fn = Script(forever=RateLimited("p", "429", retry_after=5))
    with pytest.raises(RateLimited):
        await Retrier("p", max_attempts=10, deadline_s=1, sleep=sleep).call(fn)
    assert fn.calls == 1 and slept == []


async def test_no_sleep_ends_past_the_deadline() -> None:
    slept: list[tuple[float, float]] = []

    async def sleep(seconds: float) -> None:
        slept.append((time.monotonic(), seconds))
        await asyncio.sleep(seconds)

    async def slow_failure() -> None:
        await asyncio.sleep(0.03)
        raise down()

    retrier = Retrier(
        "p", max_attempts=100, base_delay_s=0.1, max_delay_s=0.2, deadline_s=0.5, sleep=sleep
    )
    start = time.monotonic()
    # The last error is the provider's, or Timeout when the deadline cut the last attempt.
    with pytest.raises((Unavailable, Timeout)):
        await retrier.call(slow_failure)

    assert time.monotonic() - start < 0.52
    assert slept and all(at + seconds < start + 0.5 for at, seconds in slept)


async def test_an_attempt_running_at_the_deadline_becomes_timeout() -> None:
    async def hang() -> None:
        await asyncio.sleep(10)

    start = time.monotonic()
    with pytest.raises(Timeout, match="deadline"):
        await Retrier("p", deadline_s=0.2).call(hang)
    # Cut at the deadline, long before the 10 s attempt would end (loose above: a loaded
    # machine wakes the timer late).
    assert 0.19 < time.monotonic() - start < 3.0


async def test_concurrent_calls_keep_their_own_state() -> None:
    retrier = Retrier("p", max_attempts=3, base_delay_s=0.01, max_delay_s=0.01)
    scripts = [Script(down(), down()) for _ in range(20)]
    results = await asyncio.gather(*(retrier.call(s) for s in scripts))
    assert results == ["ok"] * 20
    assert [s.calls for s in scripts] == [3] * 20


async def test_arguments_pass_through_and_config_builds_it() -> None:
    async def add(a: int, b: int = 0) -> int:
        return a + b

    retrier = Retrier.from_config("p", RetryPolicy(max_attempts=4, deadline_s=12))
    assert (retrier.max_attempts, retrier.deadline_s, retrier.base_delay_s) == (4, 12, 0.5)
    assert await retrier.call(add, 2, b=3) == 5

"""CircuitBreaker transitions under an injected clock."""

from __future__ import annotations

import asyncio
import pickle
from datetime import UTC, datetime, timedelta

import pytest

from configs.sections import CircuitPolicy
from core.errors import (
    AuthError,
    BadPayload,
    NotFound,
    PlanLimit,
    QuotaExhausted,
    RateLimited,
    Timeout,
    Unavailable,
)
from core.resilience import CircuitBreaker, CircuitOpen, Throttled


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(breaker: CircuitBreaker, error: BaseException) -> None:
    with pytest.raises(type(error)), breaker.guard():
        raise error


def succeed(breaker: CircuitBreaker) -> None:
    with breaker.guard():
        pass


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("p", failure_threshold=3, cooldown_s=30, clock=clock)


def test_opens_after_consecutive_failures(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, Unavailable("p", "503"))
    fail(breaker, Timeout("p", "slow"))
    assert (breaker.state, breaker.consecutive_failures) == ("closed", 2)
    fail(breaker, BadPayload("p", "truncated"))

    assert breaker.state == "open" and breaker.opened_at == 1000.0
    clock.now += 10
    with pytest.raises(CircuitOpen) as caught, breaker.guard():
        pytest.fail("an open circuit let a call through")
    assert caught.value.retry_in_s == 20
    assert isinstance(caught.value, Unavailable) and not caught.value.retryable
    assert caught.value.failover


def test_success_resets_the_count(breaker: CircuitBreaker) -> None:
    fail(breaker, Unavailable("p", "503"))
    fail(breaker, Unavailable("p", "503"))
    succeed(breaker)
    fail(breaker, Unavailable("p", "503"))
    assert (breaker.state, breaker.consecutive_failures) == ("closed", 1)


@pytest.mark.parametrize(
    "error",
    [
        AuthError("p", "401"),
        NotFound("p", "404"),
        RateLimited("p", "429", 1.0),
        Throttled("p", 1.0),
        CircuitOpen("p", 1.0),
        asyncio.CancelledError(),
        ValueError("bug"),
    ],
)
def test_errors_that_say_nothing_about_health_neither_count_nor_reset(
    breaker: CircuitBreaker, error: BaseException
) -> None:
    fail(breaker, Unavailable("p", "503"))
    for _ in range(5):
        fail(breaker, error)
    assert (breaker.state, breaker.consecutive_failures) == ("closed", 1)


def open_and_cool(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        fail(breaker, Unavailable("p", "503"))
    clock.now += 30
    assert breaker.state == "half_open"


def test_half_open_allows_one_probe_and_closes_on_success(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    open_and_cool(breaker, clock)
    with breaker.guard():
        assert breaker.snapshot()["probe_in_flight"] is True
        with pytest.raises(CircuitOpen), breaker.guard():
            pytest.fail("a second probe went through")

    assert breaker.state == "closed"
    assert breaker.opened_at is None and breaker.consecutive_failures == 0
    succeed(breaker)
    succeed(breaker)


def test_a_failed_probe_reopens(breaker: CircuitBreaker, clock: Clock) -> None:
    open_and_cool(breaker, clock)
    fail(breaker, Timeout("p", "slow"))

    assert breaker.state == "open" and breaker.opened_at == clock.now
    assert breaker.retry_in_s == 30
    clock.now += 30
    assert breaker.state == "half_open"


def test_a_probe_without_verdict_frees_the_slot(breaker: CircuitBreaker, clock: Clock) -> None:
    open_and_cool(breaker, clock)
    fail(breaker, NotFound("p", "404"))
    assert breaker.state == "half_open"
    succeed(breaker)  # the next caller may probe
    assert breaker.state == "closed"


def test_an_abandoned_probe_expires_after_cooldown(breaker: CircuitBreaker, clock: Clock) -> None:
    open_and_cool(breaker, clock)
    breaker.guard().__enter__()  # a probe whose caller never reports back
    with pytest.raises(CircuitOpen), breaker.guard():
        pass
    clock.now += 30
    succeed(breaker)
    assert breaker.state == "closed"


def test_late_failures_while_open_do_not_extend_the_cooldown(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    in_flight = breaker.guard()
    in_flight.__enter__()  # started while closed, answers after the circuit opened
    for _ in range(3):
        fail(breaker, Unavailable("p", "503"))
    clock.now += 5
    in_flight.__exit__(Unavailable, Unavailable("p", "503"), None)
    assert breaker.opened_at == 1000.0 and breaker.consecutive_failures == 4


def test_snapshot_and_config(clock: Clock) -> None:
    breaker = CircuitBreaker.from_config(
        "p", CircuitPolicy(failure_threshold=2, cooldown_s=10), clock=clock
    )
    fail(breaker, Unavailable("p", "503"))
    fail(breaker, Unavailable("p", "503"))
    clock.now += 4
    assert breaker.snapshot() == {
        "state": "open",
        "consecutive_failures": 2,
        "opened_at": 1000.0,
        "retry_in_s": 6.0,
        "probe_in_flight": False,
        "failure_threshold": 2,
        "cooldown_s": 10,
        "reason": None,
    }


def test_circuit_open_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(CircuitOpen("yahoo", 12.5)))
    assert (error.provider, error.retry_in_s, str(error)) == (
        "yahoo",
        12.5,
        "yahoo: circuit open, next probe in 12.5s",
    )


def test_plan_limit_neither_counts_nor_resets(breaker: CircuitBreaker) -> None:
    fail(breaker, Unavailable("p", "503"))
    for _ in range(5):
        fail(breaker, PlanLimit("p", "premium endpoint"))
    assert (breaker.state, breaker.consecutive_failures) == ("closed", 1)


def test_spent_quota_holds_the_circuit_open_until_its_reset(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    reset_at = datetime.now(UTC) + timedelta(hours=5)
    fail(breaker, QuotaExhausted("p", "25 requests per day", reset_at))
    assert breaker.state == "open" and breaker.quota_reset_at == reset_at
    clock.now += 3600  # far past cooldown_s (30)
    with pytest.raises(CircuitOpen, match="quota spent until") as caught, breaker.guard():
        pass
    assert caught.value.retry_in_s == pytest.approx(4 * 3600, abs=5)
    assert breaker.snapshot()["reason"] == "quota"
    clock.now += 4 * 3600 + 5  # the quota has reset: one probe passes, success closes
    succeed(breaker)
    assert breaker.state == "closed" and breaker.quota_reset_at is None
    assert breaker.snapshot()["reason"] is None


def test_after_a_quota_an_outage_gets_the_normal_cooldown(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, QuotaExhausted("p", "spent", datetime.now(UTC) + timedelta(seconds=60)))
    clock.now += 61
    fail(breaker, Unavailable("p", "503"))  # the probe fails: re-open for cooldown_s only
    assert breaker.state == "open" and breaker.retry_in_s == pytest.approx(30)
    assert breaker.quota_reset_at is None

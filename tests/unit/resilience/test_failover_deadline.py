"""Failover that answers (issue 14): our own queueing and the caller's deadline are never
the provider's failure, an open circuit refuses before queueing, and one routed deadline is
split so a hanging primary cannot eat the fallback's time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.errors import Timeout, Unavailable
from core.models import Capability
from core.provider_service import ProviderService
from core.providers import AlphaVantageClient
from core.resilience import (
    CircuitBreaker,
    CircuitOpen,
    LocalRateLimiter,
    Retrier,
    Throttled,
    Window,
)
from core.routing import PRIMARY_SHARE, FailoverRouter
from tests.unit.providers.conftest import AAPL, raw

NOW = datetime.now(UTC)
WINDOW = (NOW - timedelta(days=30), NOW)
WAIT_S = 30.0  # generous: how long a test waits for a condition before it fails


class HeldProvider:
    """Holds every request until `release` is set; counts how many it holds at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.requests = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        return httpx.Response(200, content=raw("av_daily_aapl.json"))


def service(answer: HeldProvider, max_in_flight: int = 2) -> ProviderService:
    # The pool is larger than the service's slots, so any wait is the service's own queue.
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    client = AlphaVantageClient("http://av.test", api_key="k", http=http, plan="premium")
    return ProviderService(
        "alphavantage",
        client,
        LocalRateLimiter("alphavantage", []),
        CircuitBreaker("alphavantage", failure_threshold=1, cooldown_s=60),
        Retrier("alphavantage", max_attempts=1, deadline_s=WAIT_S),
        max_in_flight=max_in_flight,
    )


async def until(condition: Any) -> None:
    """Wait until `condition()` holds (fail after WAIT_S)."""
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.01)


async def test_calls_beyond_the_slots_queue_and_all_are_answered() -> None:
    answer = HeldProvider()
    svc = service(answer, max_in_flight=2)
    calls = [asyncio.create_task(svc.call("fetch_bars", AAPL, *WINDOW)) for _ in range(6)]
    await until(lambda: answer.in_flight == 2)
    answer.release.set()
    series = await asyncio.gather(*calls)
    assert all(s.provider == "alphavantage" for s in series)
    assert answer.most_in_flight == 2 and answer.requests == 6
    assert svc.breaker.state == "closed"


async def test_a_deadline_spent_queueing_is_a_timeout_the_circuit_does_not_count() -> None:
    answer = HeldProvider()
    svc = service(answer, max_in_flight=1)
    held = asyncio.create_task(svc.call("fetch_bars", AAPL, *WINDOW))
    await until(lambda: answer.in_flight == 1)
    with pytest.raises(Timeout, match="call deadline"):
        await svc.call("fetch_bars", AAPL, *WINDOW, deadline_s=0.05)
    assert answer.requests == 1  # the queued call was never sent
    # failure_threshold is 1: one counted failure would have opened it.
    assert svc.breaker.state == "closed" and svc.breaker.consecutive_failures == 0
    answer.release.set()
    assert (await held).provider == "alphavantage"


async def test_a_deadline_reached_at_the_provider_does_not_open_the_circuit() -> None:
    answer = HeldProvider()
    svc = service(answer)
    with pytest.raises(Timeout, match="call deadline"):
        await svc.call("fetch_bars", AAPL, *WINDOW, deadline_s=0.05)
    assert answer.requests == 1
    assert svc.breaker.state == "closed" and svc.breaker.consecutive_failures == 0


async def test_an_open_circuit_refuses_without_queueing_behind_the_slots() -> None:
    answer = HeldProvider()
    svc = service(answer, max_in_flight=1)
    held = asyncio.create_task(svc.call("fetch_bars", AAPL, *WINDOW))
    await until(lambda: answer.in_flight == 1)
    svc.breaker._settle(Unavailable("alphavantage", "down"), probe=False)  # threshold 1
    # With the one slot taken, a queued call would wait for it; this one is refused at once
    # (the deadline would turn a wait into Timeout, not CircuitOpen).
    with pytest.raises(CircuitOpen):
        await svc.call("fetch_bars", AAPL, *WINDOW, deadline_s=WAIT_S)
    answer.release.set()
    await held


async def test_a_limiter_slot_past_the_deadline_is_refused_at_once() -> None:
    answer = HeldProvider()
    answer.release.set()
    svc = service(answer)
    svc.limiter = LocalRateLimiter("alphavantage", [Window(1, 10.0)])
    await svc.call("fetch_bars", AAPL, *WINDOW)  # the window's one slot for 10 s
    # Waiting would end in Timeout at the deadline; Throttled says nothing was waited for.
    with pytest.raises(Throttled):
        await svc.call("fetch_bars", AAPL, *WINDOW, failover=True, deadline_s=1.0)
    assert answer.requests == 1
    assert svc.breaker.consecutive_failures == 0


async def test_call_within_ends_by_the_sooner_deadline() -> None:
    retrier = Retrier("p", max_attempts=1, deadline_s=WAIT_S)

    async def hang() -> None:
        await asyncio.Event().wait()

    with pytest.raises(Timeout, match=r"call deadline of 0\.05s"):
        await retrier.call_within(0.05, hang)
    short = Retrier("p", max_attempts=1, deadline_s=0.05)
    with pytest.raises(Timeout, match=r"call deadline of 0\.05s"):
        await short.call_within(WAIT_S, hang)  # the policy's own deadline still holds


async def test_a_hanging_primary_costs_its_share_and_the_fallback_answers() -> None:
    given: dict[str, float] = {}

    async def call(
        provider: str, method: str, args: tuple[Any, ...], failover: bool, deadline_s: float
    ) -> str:
        given[provider] = deadline_s
        if provider == "yahoo":  # hangs; its service ends it at the deadline it was given
            await asyncio.sleep(deadline_s)
            raise Timeout(provider, "call deadline")
        return "bars"

    router = FailoverRouter(
        {Capability.PRICES: ["yahoo", "alphavantage"]},
        {"yahoo", "alphavantage"},
        call,
        deadline_s=2.0,
    )
    routed = await router.route(Capability.PRICES, AAPL, *WINDOW, "1d", interval="1d")
    assert routed.provider == "alphavantage" and routed.result == "bars"
    assert routed.failovers == (("yahoo", "timeout"),)
    assert given["yahoo"] <= 2.0 * PRIMARY_SHARE
    assert 0 < given["alphavantage"] <= 2.0 - given["yahoo"] + 0.01


async def test_the_plans_provider_goes_first_and_waits_out_one_429() -> None:
    from core.errors import RateLimited

    calls: list[tuple[str, bool]] = []
    errors = {"alphavantage": RateLimited("alphavantage", "429", 1.0)}

    async def call(
        provider: str, method: str, args: tuple[Any, ...], failover: bool, deadline_s: float
    ) -> str:
        calls.append((provider, failover))
        if provider in errors:
            raise errors[provider]
        return "bars"

    router = FailoverRouter(
        {Capability.PRICES: ["yahoo", "alphavantage"]}, {"yahoo", "alphavantage"}, call
    )
    args = (AAPL, *WINDOW, "1d")
    # Planned on the second provider: asked first; a 429 is asked once more (its limiter
    # holds the pause) before the other provider serves.
    routed = await router.route(Capability.PRICES, *args, interval="1d", first="alphavantage")
    assert routed.provider == "yahoo"
    assert calls == [("alphavantage", True), ("alphavantage", True), ("yahoo", False)]
    calls.clear()
    errors["alphavantage"] = Unavailable("alphavantage", "503")  # other errors: at once
    await router.route(Capability.PRICES, *args, interval="1d", first="alphavantage")
    assert calls == [("alphavantage", True), ("yahoo", False)]
    calls.clear()
    await router.route(Capability.PRICES, *args, interval="1d")  # unplanned: as before
    assert calls == [("yahoo", True)]

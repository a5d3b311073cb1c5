"""The daily LLM budget: reserve-then-settle in Postgres never lets racing callers overspend."""

from __future__ import annotations

import asyncio
import random
from datetime import date

import pytest

from core.errors import BudgetExceeded
from core.llm.budget import DailyBudget
from core.llm.cost import bound_micro, cost_micro, prompt_token_bound

DAY = date(2026, 1, 2)


class Price:
    input_per_mtok = 0.15
    output_per_mtok = 0.60


@pytest.fixture
def pool(migrated_pool):
    return migrated_pool


async def test_sixteen_racing_callers_never_overspend(pool) -> None:
    budget = DailyBudget(pool, limit_usd=0.01)  # 10,000 micro-dollars
    rng = random.Random(7)
    refused = 0

    async def caller() -> None:
        nonlocal refused
        while True:
            bound = rng.randint(50, 400)
            try:
                reservation = await budget.reserve(bound, DAY)
            except BudgetExceeded:
                refused += 1
                return
            await asyncio.sleep(rng.random() / 100)  # the call in flight
            await budget.settle(reservation, rng.randint(bound // 2, bound))  # real <= bound

    await asyncio.gather(*(caller() for _ in range(16)))
    state = await budget.state(DAY)
    assert refused == 16
    assert state["reserved_usd"] == 0
    assert 0.009 < state["spent_usd"] <= 0.01  # spent close to, never past, the limit


async def test_refusal_holds_nothing_and_states_the_budget(pool) -> None:
    budget = DailyBudget(pool, limit_usd=0.001)
    held = await budget.reserve(900, DAY)
    with pytest.raises(BudgetExceeded, match=r"daily LLM budget of \$0.00 for 2026-01-02"):
        await budget.reserve(200, DAY)
    assert (await budget.state(DAY))["reserved_usd"] == 0.0009
    await budget.settle(held, 0)  # the call failed: nothing charged, all released
    assert (await budget.state(DAY))["left_usd"] == 0.001


def test_bound_is_an_upper_bound_and_costs_round_up() -> None:
    messages = [{"role": "user", "content": "삼성전자 실적 " * 50}]
    assert prompt_token_bound(messages) >= len(messages[0]["content"].encode())
    assert cost_micro(Price, 1, 0) == 1  # 0.15 micro-dollars rounds up, never down
    assert bound_micro(Price, messages, 100) >= cost_micro(Price, 900, 100)

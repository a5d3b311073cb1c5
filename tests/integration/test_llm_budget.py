"""The daily LLM budget: reserve-then-settle in Postgres never lets racing callers overspend."""

from __future__ import annotations

import asyncio
import random
from datetime import date

import pytest

from core.errors import BudgetExceeded
from core.llm.budget import DailyBudget, Quota, QuotaExceeded, quota_state
from core.llm.cost import bound_micro, cost_micro, prompt_token_bound
from core.storage.api_keys import create_key, set_chat_quota

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


async def _key_row(pool, key_id) -> tuple[int, int, int]:
    row = await pool.fetchrow(
        "SELECT limit_micro, reserved_micro, spent_micro FROM chat_budget "
        "WHERE key_id = $1 AND day = $2",
        key_id, DAY,
    )  # fmt: skip
    return tuple(row)


async def test_racing_calls_of_one_key_stay_within_its_quota_and_the_day(pool) -> None:
    budget = DailyBudget(pool, limit_usd=0.01)
    async with pool.acquire() as conn:
        greedy, _ = await create_key(conn, "greedy", "write", chat_usd_per_day=0.002)
        other, _ = await create_key(conn, "other", "write")  # the default below
    quota = Quota(greedy.id, default_micro=50_000)
    rng = random.Random(11)
    refusals: list[BudgetExceeded] = []

    async def caller() -> None:
        while True:
            bound = rng.randint(50, 400)
            try:
                reservation = await budget.reserve(bound, DAY, quota)
            except BudgetExceeded as err:
                refusals.append(err)
                return
            await asyncio.sleep(rng.random() / 100)
            await budget.settle(reservation, rng.randint(bound // 2, bound))

    await asyncio.gather(*(caller() for _ in range(16)))
    assert len(refusals) == 16 and all(isinstance(e, QuotaExceeded) for e in refusals)
    assert "daily chat quota of $0.00" in refusals[0].message and refusals[0].retry_after > 0
    limit, reserved, spent = await _key_row(pool, greedy.id)
    assert limit == 2000 and reserved == 0 and 1600 < spent <= 2000
    day = await budget.state(DAY)
    assert day["reserved_usd"] == 0 and day["spent_usd"] == spent / 1e6  # settled in both
    # The other key's quota is untouched: it still reserves.
    held = await budget.reserve(300, DAY, Quota(other.id, default_micro=50_000))
    await budget.settle(held, 120)
    assert await _key_row(pool, other.id) == (50_000, 0, 120)
    async with pool.acquire() as conn:
        shown = await quota_state(conn, Quota(other.id, 50_000), DAY)
    assert shown == {"limit_usd": 0.05, "reserved_usd": 0, "spent_usd": 0.00012,
                     "left_usd": 0.04988}  # fmt: skip


async def test_a_call_refused_by_the_day_holds_nothing_on_the_key(pool) -> None:
    budget = DailyBudget(pool, limit_usd=0.001)
    async with pool.acquire() as conn:
        key, _ = await create_key(conn, "k", "write")
    quota = Quota(key.id, default_micro=5_000)
    held = await budget.reserve(900, DAY, quota)
    with pytest.raises(BudgetExceeded) as refused:
        await budget.reserve(200, DAY, quota)  # fits the key's quota, not the day's budget
    assert not isinstance(refused.value, QuotaExceeded)
    assert await _key_row(pool, key.id) == (5_000, 900, 0)  # the refused 200 rolled back
    await budget.settle(held, 0)  # the call failed: released on both rows
    assert await _key_row(pool, key.id) == (5_000, 0, 0)
    assert (await budget.state(DAY))["reserved_usd"] == 0
    # Lowering the key's quota applies at its next call, even below what it spent.
    await budget.settle(await budget.reserve(400, DAY, quota), 400)
    async with pool.acquire() as conn:
        await set_chat_quota(conn, key.prefix, 0.0003)
    with pytest.raises(QuotaExceeded):
        await budget.reserve(1, DAY, quota)
    assert await _key_row(pool, key.id) == (300, 0, 400)

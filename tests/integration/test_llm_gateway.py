"""The LLM gateway against the sim's OpenAI-compatible endpoint, with a real Postgres."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from configs.sections import LlmEndpoint, ModelPrice, RetryPolicy
from core.errors import BudgetExceeded, InvalidAnswer, LLMPermanent, LLMTransient
from core.llm.gateway import LLMGateway
from sim.server import SimServer

PRICES = {
    "sim-llm": ModelPrice(input_per_mtok=0.10, output_per_mtok=0.40),
    "sim-llm-large": ModelPrice(input_per_mtok=0.50, output_per_mtok=1.50),
}
RETRY = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.05, deadline_s=10)
ARTICLES = (
    "Classify in JSON.\nARTICLES:\n"
    '[{"id": "a1", "title": "Apple beats estimates", "text": "Record quarter."}]'
)


class ArticleScore(BaseModel):
    id: str
    sentiment: float
    label: str


class Scores(BaseModel):
    articles: list[ArticleScore]


def _endpoint(sim: SimServer, name: str, model: str = "sim-llm", window: int = 8192):
    return LlmEndpoint(
        name=name, base_url=sim.urls["llm"] + "/v1", model=model, context_window=window,
        rpm=6000, max_concurrency=16, timeout_s=5,
    )  # fmt: skip


@pytest.fixture
def pool(migrated_pool):
    return migrated_pool


@pytest.fixture
def sim_llm(sim: SimServer):
    sim.clear_faults()
    yield sim
    sim.clear_faults()


def _gateway(pool, endpoints, daily_usd: float = 1.0, per_call_usd: float = 0.01) -> LLMGateway:
    return LLMGateway(
        endpoints, PRICES, pool, daily_usd=daily_usd, per_call_usd=per_call_usd,
        retry=RETRY, cooldown_s=30,
    )  # fmt: skip


async def _usage(pool, status: str | None = None) -> list:
    query = "SELECT endpoint, status, cost_micro, detail FROM llm_usage"
    if status:
        return await pool.fetch(query + " WHERE status = $1", status)
    return await pool.fetch(query)


async def test_structured_answer_is_validated_costed_and_recorded(pool, sim_llm) -> None:
    gateway = _gateway(pool, [(_endpoint(sim_llm, "main"), "key")])
    done = await gateway.complete(
        [{"role": "user", "content": ARTICLES}], schema=Scores, trace_id="t1"
    )
    assert done.parsed.articles[0].id == "a1"
    assert done.endpoint == "main" and done.tokens_in > 0 and done.tokens_out > 0
    assert done.cost_usd > 0
    rows = await _usage(pool, "ok")
    assert len(rows) == 1 and rows[0]["cost_micro"] == round(done.cost_usd * 1e6)
    assert (await gateway.budget.state())["spent_usd"] == pytest.approx(done.cost_usd)
    await gateway.aclose()


@pytest.mark.parametrize(
    ("faults", "kind"),
    [
        ({"outage": {"mode": "503"}}, LLMTransient),
        ({"error_rate": 1.0}, LLMTransient),
        ({"rate_limit": {"limit": 0, "window_s": 60, "style": "http429"}}, LLMTransient),
        ({"outage": {"mode": "refuse"}}, LLMTransient),
    ],
    ids=["503", "500", "429", "refused"],
)
async def test_transient_errors_fail_over_and_cool_down(pool, sim, faults, kind) -> None:
    # Two endpoints on two different sims: the primary's sim gets the fault.
    with SimServer(seed=7) as primary_sim:
        primary_sim.set_faults("llm", faults)
        gateway = _gateway(
            pool, [(_endpoint(primary_sim, "primary"), "k"), (_endpoint(sim, "backup"), "k")]
        )
        first = await gateway.complete([{"role": "user", "content": "hello"}])
        assert first.endpoint == "backup"
        errors = await _usage(pool, "error")
        assert errors and all(r["endpoint"] == "primary" for r in errors)
        assert kind.__name__ in errors[0]["detail"]
        seen = primary_sim.stats()["llm"]["requests"]
        second = await gateway.complete([{"role": "user", "content": "hello again"}])
        assert second.endpoint == "backup"
        assert primary_sim.stats()["llm"]["requests"] == seen  # cooling down: not asked
        await gateway.aclose()


@pytest.mark.parametrize(
    ("key", "model", "message"),
    [("bad-key", "sim-llm", "401"), ("k", "no-such-model", "404")],
)
async def test_permanent_errors_stop_without_retry(pool, sim_llm, key, model, message) -> None:
    prices = {**PRICES, "no-such-model": PRICES["sim-llm"]}
    gateway = LLMGateway(
        [(_endpoint(sim_llm, "main", model=model), key), (_endpoint(sim_llm, "backup"), "k")],
        prices, pool, daily_usd=1, per_call_usd=0.01, retry=RETRY,
    )  # fmt: skip
    before = sim_llm.stats()["llm"]["requests"]
    with pytest.raises(LLMPermanent, match=message):
        await gateway.complete([{"role": "user", "content": "hi"}])
    assert sim_llm.stats()["llm"]["requests"] - before == 1  # no retry, no failover
    await gateway.aclose()


async def test_context_too_long_moves_to_a_larger_window(pool, sim_llm) -> None:
    gateway = _gateway(
        pool,
        [
            (_endpoint(sim_llm, "small", "sim-llm", 8192), "k"),
            (_endpoint(sim_llm, "large", "sim-llm-large", 32768), "k"),
        ],
        per_call_usd=1.0,
    )
    long_prompt = "word " * 9000  # ~11k sim tokens: over 8192, under 32768
    done = await gateway.complete([{"role": "user", "content": long_prompt}], max_tokens=64)
    assert done.endpoint == "large"
    assert "ContextTooLong" in (await _usage(pool, "error"))[0]["detail"]
    await gateway.aclose()


async def test_per_call_ceiling_refuses_before_sending(pool, sim_llm) -> None:
    gateway = _gateway(pool, [(_endpoint(sim_llm, "main"), "k")], per_call_usd=0.0001)
    before = sim_llm.stats()["llm"]["requests"]
    with pytest.raises(BudgetExceeded, match="per-call ceiling"):
        await gateway.complete([{"role": "user", "content": "x" * 2000}], max_tokens=1000)
    assert sim_llm.stats()["llm"]["requests"] == before


async def test_truncated_answer_gets_one_repair_then_fails_with_raw_text(pool, sim_llm) -> None:
    gateway = _gateway(pool, [(_endpoint(sim_llm, "main"), "k")])
    with pytest.raises(InvalidAnswer) as caught:
        await gateway.complete([{"role": "user", "content": ARTICLES}], schema=Scores, max_tokens=8)
    assert caught.value.raw  # the cut-off JSON is kept
    assert len(await _usage(pool, "ok")) == 2  # the answer and its one repair
    invalid = await _usage(pool, "invalid")
    assert len(invalid) == 1 and invalid[0]["detail"] == caught.value.raw
    assert invalid[0]["cost_micro"] == 0  # the marker adds no cost: the calls carry it
    recorded = sum(r["cost_micro"] for r in await _usage(pool))
    assert recorded / 1e6 == pytest.approx((await gateway.budget.state())["spent_usd"])
    await gateway.aclose()


async def test_daily_budget_holds_under_sixteen_concurrent_callers(pool, sim_llm) -> None:
    gateway = _gateway(pool, [(_endpoint(sim_llm, "main"), "k")], daily_usd=0.002)
    refused = 0

    async def job(n: int) -> None:
        nonlocal refused
        for i in range(100):
            try:
                await gateway.complete([{"role": "user", "content": f"job {n} call {i}"}])
            except BudgetExceeded:
                refused += 1
                return

    await asyncio.gather(*(job(n) for n in range(16)))
    state = await gateway.budget.state()
    recorded = sum(r["cost_micro"] for r in await _usage(pool, "ok")) / 1e6
    assert refused == 16
    assert state["spent_usd"] <= 0.002
    assert state["reserved_usd"] == 0
    assert recorded == pytest.approx(state["spent_usd"])
    await gateway.aclose()


def _llamacpp(sim: SimServer, structured: str = "json_schema") -> LlmEndpoint:
    return _endpoint(sim, "llama").model_copy(
        update={"base_url": sim.urls["llm"] + "/llamacpp/v1", "structured": structured}
    )


async def test_llamacpp_refusing_json_schema_steps_down_once_not_out(pool, sim_llm) -> None:
    gateway = _gateway(pool, [(_llamacpp(sim_llm), "key")])
    before = sim_llm.stats()["llm"]["requests"]
    for _ in range(2):  # the second call goes straight to the remembered mode
        done = await gateway.complete([{"role": "user", "content": ARTICLES}], schema=Scores)
        assert done.parsed.articles[0].id == "a1" and done.endpoint == "llama"
    assert sim_llm.stats()["llm"]["requests"] - before == 3  # refused once, no retries
    health = gateway.health()[0]
    assert health["configured"] == "json_schema" and health["structured"] == "json_object_schema"
    assert health["cooling_s"] == 0  # not an outage
    assert len(health["downgrades"]) == 1 and "must be one of" in health["downgrades"][0]
    errors = await _usage(pool, "error")
    assert len(errors) == 1 and errors[0]["detail"].startswith("FormatRefused")
    assert errors[0]["cost_micro"] == 0 and len(await _usage(pool, "ok")) == 2
    await gateway.aclose()


@pytest.mark.parametrize("structured", ["json_object", "none"])
async def test_weaker_modes_answer_validly_from_the_prompt(pool, sim_llm, structured) -> None:
    gateway = _gateway(pool, [(_llamacpp(sim_llm, structured), "key")])
    done = await gateway.complete([{"role": "user", "content": ARTICLES}], schema=Scores)
    assert done.parsed.articles[0].id == "a1"
    assert gateway.health()[0]["downgrades"] == []
    await gateway.aclose()

"""Measurements of `bench.analysis`: throughput, peer, cost per article, budget race.

Each function takes the sim, a DSN of a fresh database (migrated, watchlist registered)
and the labelled articles, and returns its figures. The gateway is built on the sim's
OpenAI-compatible endpoint exactly as `tests/integration/test_analysis.py` builds it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from configs.sections import LlmEndpoint, ModelPrice, RetryPolicy
from core.analysis.prompts import ArticleVerdicts, article_messages, batches, check_verdicts
from core.errors import BudgetExceeded
from core.llm.cost import MICRO
from core.llm.gateway import LLMGateway
from core.models import Article, Instrument
from core.storage.db import create_pool
from sim.server import SimServer

MAX_PROMPT_TOKENS = 3000  # core.analysis.pipeline.MAX_PROMPT_TOKENS: the project's batch size
RETRY = RetryPolicy(max_attempts=2, base_delay_s=0.05, max_delay_s=0.2, deadline_s=60)
BIG_RPM = 100_000  # far above what the run sends: the RPM limiter never binds


@dataclass(frozen=True, slots=True)
class Labelled:
    """A sim article with its instrument and true label."""

    article: Article
    instrument: Instrument
    label: str


@dataclass(frozen=True, slots=True)
class Call:
    """One prepared batch prompt: messages, ids, max_tokens (as the pipeline sets them)."""

    messages: list[dict[str, str]]
    ids: set[str]
    max_tokens: int
    articles: int


def endpoint(sim: SimServer, concurrency: int) -> LlmEndpoint:
    """The gateway's endpoint config on the sim's LLM."""
    return LlmEndpoint(
        name="sim", base_url=sim.urls["llm"] + "/v1", model="sim-llm", rpm=BIG_RPM,
        max_concurrency=concurrency, timeout_s=60,
    )  # fmt: skip


def max_tokens_for(n: int) -> int:
    """The answer budget `analyze_articles` gives a batch of `n` articles."""
    return min(80 * n + 64, 4000)


def prepare_calls(items: Sequence[Labelled], locale: str = "en") -> list[Call]:
    """Per instrument, the pipeline's batches and messages (one call per batch)."""
    by_instrument: dict[str, list[Labelled]] = {}
    for item in items:
        by_instrument.setdefault(item.instrument.id, []).append(item)
    calls = []
    for group in by_instrument.values():
        instrument = group[0].instrument
        for batch in batches([g.article for g in group], MAX_PROMPT_TOKENS):
            messages, ids = article_messages(instrument, batch, locale)
            calls.append(Call(messages, set(ids), max_tokens_for(len(batch)), len(batch)))
    return calls


def single_calls(items: Sequence[Labelled], locale: str = "en") -> list[Call]:
    """One prompt per article (the naive way)."""
    calls = []
    for item in items:
        messages, ids = article_messages(item.instrument, [item.article], locale)
        calls.append(Call(messages, set(ids), max_tokens_for(1), 1))
    return calls


def model_latency_s(tokens_out: int, faults: Mapping[str, float]) -> float:
    """The sim's latency model for one answer: ttft + completion tokens / tokens per second."""
    return faults["ttft_ms"] / 1000 + tokens_out / faults["tokens_per_s"]


class Gateway:
    """An LLMGateway with its own pool on one database (async context manager)."""

    def __init__(
        self, dsn: str, sim: SimServer, concurrency: int, prices: Mapping[str, ModelPrice],
        daily_usd: float, per_call_usd: float,
    ) -> None:  # fmt: skip
        self.dsn, self.sim, self.concurrency = dsn, sim, concurrency
        self.prices, self.daily_usd, self.per_call_usd = prices, daily_usd, per_call_usd
        self.gateway: LLMGateway | None = None

    async def __aenter__(self) -> LLMGateway:
        # Connections opened up front, as in the long-lived gateway actor: the first calls
        # do not pay for connecting inside the measured window.
        self.pool = await create_pool(self.dsn, min_size=24, max_size=24)
        self.gateway = LLMGateway(
            [(endpoint(self.sim, self.concurrency), "bench-key")], self.prices, self.pool,
            daily_usd=self.daily_usd, per_call_usd=self.per_call_usd, retry=RETRY,
        )  # fmt: skip
        return self.gateway

    async def __aexit__(self, *exc: object) -> None:
        if self.gateway is not None:
            await self.gateway.aclose()
        await self.pool.close()


async def _one(gateway: LLMGateway, call: Call, purpose: str) -> Any:
    return await gateway.complete(
        call.messages, max_tokens=call.max_tokens, schema=ArticleVerdicts,
        check=check_verdicts(call.ids), purpose=purpose,
    )  # fmt: skip


async def _usage_rows(gateway: LLMGateway, purpose: str) -> list[Any]:
    return await gateway.pool.fetch(
        "SELECT status, tokens_out, cost_micro FROM llm_usage WHERE purpose LIKE $1 || '%'",
        purpose,
    )


async def measure_project(
    gateway: LLMGateway, calls: list[Call], faults: Mapping[str, float]
) -> dict[str, Any]:
    """All batches at once through `complete`; the endpoint semaphore is the only throttle.

    Ideal = Σ model latency of every call the gateway sent (llm_usage rows, repairs
    included) / concurrency.
    """
    t0 = time.perf_counter()
    done = await asyncio.gather(*(_one(gateway, c, "articles") for c in calls))
    wall = time.perf_counter() - t0
    rows = await _usage_rows(gateway, "articles")
    sent = [r for r in rows if r["status"] != "error"]
    sum_latency = sum(model_latency_s(r["tokens_out"], faults) for r in sent)
    concurrency = gateway.endpoints[0].config.max_concurrency
    ideal = sum_latency / concurrency
    articles = sum(c.articles for c in calls)
    cost_usd = sum(r["cost_micro"] for r in rows) / MICRO
    return {
        "batches": len(calls),
        "articles_per_batch": round(articles / len(calls), 1),
        "llm_calls": len(sent),
        "errors": len(rows) - len(sent),
        "verdicts": sum(len(d.parsed.articles) for d in done),
        "llm_latency_s": round(sum_latency / len(sent), 3),
        "ideal_s": round(ideal, 3),
        "wall_s": round(wall, 3),
        "wall_over_ideal": round(wall / ideal, 3),
        "batched_cost_usd": round(cost_usd, 6),
        "cost_per_article_usd": cost_usd / articles,
    }


async def measure_peer(
    sim: SimServer, calls: list[Call], concurrency: int, faults: Mapping[str, float]
) -> dict[str, Any]:
    """The usual alternative: AsyncOpenAI + asyncio.Semaphore, same prompts, same schema."""
    client = openai.AsyncOpenAI(
        base_url=sim.urls["llm"] + "/v1", api_key="bench-key", max_retries=0, timeout=60
    )
    slots = asyncio.Semaphore(concurrency)
    schema = ArticleVerdicts.model_json_schema()
    response_format = {"type": "json_schema", "json_schema": {"name": "ArticleVerdicts",
                                                              "schema": schema}}  # fmt: skip
    measured: list[float] = []

    async def one(call: Call) -> int:
        async with slots:
            s = time.perf_counter()
            answer = await client.chat.completions.create(
                model="sim-llm", messages=call.messages, max_tokens=call.max_tokens,
                response_format=response_format,
            )  # fmt: skip
            measured.append(time.perf_counter() - s)
        ArticleVerdicts.model_validate_json(answer.choices[0].message.content or "")
        return answer.usage.completion_tokens

    t0 = time.perf_counter()
    tokens_out = await asyncio.gather(*(one(c) for c in calls))
    wall = time.perf_counter() - t0
    await client.close()
    ideal = sum(model_latency_s(t, faults) for t in tokens_out) / concurrency
    return {
        "peer_wall_s": round(wall, 3),
        "peer_ideal_s": round(ideal, 3),
        "peer_wall_over_ideal": round(wall / ideal, 3),
        "peer_measured_call_s": round(sum(measured) / len(measured), 3),
    }


async def measure_naive_cost(gateway: LLMGateway, calls: list[Call]) -> dict[str, Any]:
    """One article per prompt through the gateway; cost per article from `usage`."""
    await asyncio.gather(*(_one(gateway, c, "naive") for c in calls))
    rows = await _usage_rows(gateway, "naive")
    cost_usd = sum(r["cost_micro"] for r in rows) / MICRO
    return {
        "naive_sample": len(calls),
        "naive_cost_per_article_usd": cost_usd / len(calls),
    }


async def measure_budget(gateway: LLMGateway, calls: list[Call], jobs: int) -> dict[str, Any]:
    """`jobs` tasks loop one-batch calls through one gateway until BudgetExceeded."""
    made = [0] * jobs

    async def job(k: int) -> None:
        i = k
        while True:
            try:
                await _one(gateway, calls[i % len(calls)], "budget")
            except BudgetExceeded:
                return
            made[k] += 1
            i += jobs

    await asyncio.gather(*(job(k) for k in range(jobs)))
    state = await gateway.budget.state()
    recorded = int(
        await gateway.pool.fetchval("SELECT coalesce(sum(cost_micro), 0) FROM llm_usage")
    )
    budget, spent = state["limit_usd"], state["spent_usd"]
    return {
        "budget_jobs": jobs,
        "budget_calls": sum(made),
        "budget_usd": budget,
        "spent_usd": spent,
        "recorded_usd": recorded / MICRO,
        "spent_matches_usage": round(spent * MICRO) == recorded,
        "reserved_left_usd": state["reserved_usd"],
        "overspend_usd": max(0.0, spent - budget),
    }

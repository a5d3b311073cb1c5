"""The LLM gateway: OpenAI-compatible endpoints in priority order, budgets, one error map.

Per call: for each endpoint not cooling down — refuse if the call's cost bound exceeds the
per-call ceiling (nothing sent), reserve the bound from the daily budget, send through the
`openai` SDK (its own retries off: ours honour `Retry-After` under a deadline), settle the
real cost from `usage`, record the call. Transient failures retry, then fail over and cool
the endpoint down; a context-length error moves on to a larger window; other permanent
errors stop. Structured answers are validated by pydantic, with one repair attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import openai
from pydantic import BaseModel

from core.errors import (
    BudgetExceeded,
    ContextTooLong,
    InvalidAnswer,
    LLMError,
    LLMTransient,
    Timeout,
)
from core.llm.budget import DailyBudget, Quota
from core.llm.calls import (
    Check,
    Completion,
    EndpointLike,
    Messages,
    WindowCut,
    classify,
    fields,
    parsed_answer,
    stream_usage,
    window_cut,
)
from core.llm.cost import MICRO, PriceLike, bound_micro, cost_micro
from core.llm.limits import TokenWindow, token_estimate
from core.llm.structured import (
    FormatRefused,
    answer_schema,
    response_format,
    weaker,
    with_schema_hint,
)
from core.llm.usage import record, record_error
from core.redact import register_secret
from core.resilience import LocalRateLimiter, Retrier, Window

__all__ = ["Completion", "LLMGateway", "TokenWindow", "classify", "token_estimate"]
log = logging.getLogger("stockray.llm")
REPAIR_PROMPT = (
    "Your previous answer was not valid for the requested JSON schema ({problem}). "
    "Reply again with only the corrected JSON."
)


@dataclass
class _Walk:
    """One request's way down the endpoint list: the last error, the smallest window left."""

    last: LLMError | None = None
    min_window: int = 0

    def exhausted(self) -> LLMError:
        """What to raise when no endpoint is left to try."""
        return self.last or LLMTransient("every endpoint is cooling down after failures")


class _Endpoint:
    """One endpoint's client, concurrency bound, request and token rate limits, cooldown."""

    def __init__(self, config: EndpointLike, api_key: str, retry: Any) -> None:
        self.config = config
        register_secret(api_key)  # every LLMError this process makes is scrubbed of it
        self.client = openai.AsyncOpenAI(
            base_url=config.base_url, api_key=api_key, max_retries=0, timeout=config.timeout_s
        )
        self.slots = asyncio.Semaphore(config.max_concurrency)
        self.limiter = LocalRateLimiter(config.name, [Window(config.rpm, 60.0)])
        self.tokens = TokenWindow(config.tpm) if getattr(config, "tpm", None) else None
        self.retrier = Retrier.from_config(config.name, retry)
        self.cool_until = 0.0
        self.mode = getattr(config, "structured", "json_schema")  # stepped down on refusal
        self.downgrades: list[str] = []

    def step_down(self, refused: FormatRefused, sent: str) -> bool:
        """Use the next weaker structured mode than `sent` (remembered); False when none is
        left. A concurrent call that already stepped down leaves nothing to do but retry."""
        if self.mode != sent:
            return True
        lower = weaker(self.mode)
        if lower is None:
            return False
        note = f"{self.mode} -> {lower}: {refused.message}"[:300]
        log.warning("llm endpoint %s refused %s", self.config.name, note)  # once per step
        self.downgrades.append(note)
        self.mode = lower
        return True


class LLMGateway:
    """Calls endpoints in priority order under the per-call and daily budgets."""

    def __init__(
        self,
        endpoints: Sequence[tuple[EndpointLike, str]],
        prices: Mapping[str, PriceLike],
        pool: asyncpg.Pool,
        *,
        daily_usd: float,
        per_call_usd: float,
        retry: Any,
        cooldown_s: float = 30.0,
    ) -> None:
        missing = [c.model for c, _ in endpoints if c.model not in prices]
        if missing:
            raise ValueError(f"pricing.yaml has no price for model(s): {', '.join(missing)}")
        self.endpoints = [_Endpoint(c, key, retry) for c, key in endpoints]
        self.prices = prices
        self.pool = pool
        self.budget = DailyBudget(pool, daily_usd)
        self.per_call_micro = round(per_call_usd * MICRO)
        self.cooldown_s = cooldown_s

    async def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int = 512,
        schema: type[BaseModel] | None = None,
        check: Check | None = None,
        purpose: str = "analysis",
        trace_id: str | None = None,
        ids: Collection[str] | None = None,
        quota: Quota | None = None,
    ) -> Completion:
        """One answer; with `schema`, validated (one repair attempt) or `InvalidAnswer`.

        `check(parsed)` adds rules the schema cannot say (e.g. citations must name input
        ids); it raises ValueError to reject the answer. `ids` (the input's ids) become an
        enum of every `id` and citation in the schema sent to the endpoint. With `quota`,
        each attempt also reserves from that key's daily quota (`QuotaExceeded`).
        """
        shape = (schema.__name__, answer_schema(schema, ids)) if schema is not None else None
        done = await self._route(messages, max_tokens, shape, purpose, trace_id, quota)
        if schema is None:
            return done
        try:
            return parsed_answer(done, schema, check)
        except InvalidAnswer as first:
            repair = [
                *messages,
                {"role": "assistant", "content": done.text},
                {"role": "user", "content": REPAIR_PROMPT.format(problem=first.message)},
            ]
            again = await self._route(
                repair, max_tokens, shape, f"{purpose}:repair", trace_id, quota
            )
            try:
                return parsed_answer(again, schema, check)
            except InvalidAnswer as final:
                # The call itself is already recorded with its cost; this row marks the
                # failure and keeps the raw text, at no extra cost.
                marker = Completion(
                    **{**fields(again), "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0}
                )
                await record(self.pool, marker, purpose, trace_id, "invalid", final.raw)
                raise

    async def _route(
        self,
        messages: Messages,
        max_tokens: int,
        shape: tuple[str, dict[str, Any]] | None,
        purpose: str,
        trace_id: str | None,
        quota: Quota | None = None,
    ) -> Completion:
        walk = _Walk()
        for ep, bound in self._candidates(messages, max_tokens, walk):
            while True:  # again at once, one mode weaker, while the endpoint refuses a format
                sent = (ep.mode, *shape) if shape is not None else None
                done, failed = await self._attempt(ep, bound, messages, max_tokens, sent, quota)
                if failed is not None:
                    await record_error(self.pool, ep.config, purpose, trace_id, failed)
                refused = isinstance(failed, FormatRefused) and sent is not None
                if not (refused and ep.step_down(failed, sent[0])):
                    break
            if failed is not None:
                self._fail_over(ep, failed, walk)
                continue
            await record(self.pool, done, purpose, trace_id, "ok")
            return done
        raise walk.exhausted()

    async def _attempt(
        self,
        ep: _Endpoint,
        bound: int,
        messages: Messages,
        max_tokens: int,
        sent: tuple[str, str, dict[str, Any]] | None,
        quota: Quota | None = None,
    ) -> tuple[Completion | None, LLMError | None]:
        """One endpoint's try (with its retries): the costed answer, or the error."""
        cfg = ep.config
        # The endpoint's slot first, then the reservation: calls queue in arrival order
        # and a reservation is held only while its call can actually be in flight.
        async with ep.slots:
            reservation = await self.budget.reserve(bound, quota=quota)  # spent: raise at once
            spent = 0
            try:
                done = await ep.retrier.call(self._send, ep, messages, max_tokens, sent)
                spent = cost_micro(self.prices[cfg.model], done.tokens_in, done.tokens_out)
            except (LLMError, Timeout) as err:
                failed = err if isinstance(err, LLMError) else LLMTransient(str(err), cfg.name)
                if isinstance(failed, WindowCut):  # the cut answer's tokens were spent
                    tokens = (failed.tokens_in, failed.tokens_out)
                    spent = failed.cost_micro = cost_micro(self.prices[cfg.model], *tokens)
                return None, failed
            finally:
                await self.budget.settle(reservation, spent)
        return Completion(**{**fields(done), "cost_usd": spent / MICRO}), None

    def _candidates(
        self, messages: Messages, max_tokens: int, walk: _Walk
    ) -> Iterator[tuple[_Endpoint, int]]:
        """Endpoints to try in priority order, each with its cost bound: not cooling down,
        with a larger window than one that was too small, and under the per-call ceiling."""
        now = time.monotonic()
        for ep in self.endpoints:
            cfg = ep.config
            if ep.cool_until > now or cfg.context_window <= walk.min_window:
                continue
            bound = bound_micro(self.prices[cfg.model], messages, max_tokens)
            if bound > self.per_call_micro:
                walk.last = self._over_ceiling(bound, cfg.name)
                continue
            yield ep, bound

    def _fail_over(self, ep: _Endpoint, failed: LLMError, walk: _Walk) -> None:
        """After a failed attempt: go on to a larger window, or cool this endpoint down and
        go on to the next; any other error stops the request."""
        walk.last = failed
        if isinstance(failed, ContextTooLong):
            walk.min_window = ep.config.context_window
        elif isinstance(failed, LLMTransient):
            ep.cool_until = time.monotonic() + self.cooldown_s
        else:
            raise failed

    def _over_ceiling(self, bound: int, endpoint: str) -> BudgetExceeded:
        return BudgetExceeded(
            f"a call could cost ${bound / MICRO:.6f}, over the per-call ceiling of "
            f"${self.per_call_micro / MICRO:.6f}",
            endpoint,
        )

    async def stream(
        self,
        messages: Messages,
        *,
        max_tokens: int = 512,
        purpose: str = "chat",
        trace_id: str | None = None,
        quota: Quota | None = None,
    ) -> AsyncIterator[str | Completion]:
        """Text deltas as they arrive, then the finished `Completion` (settled, recorded).

        Same budgets and failover as `complete`, but only until the first delta: a failure
        after it is raised. A stream that fails or is abandoned mid-way is charged its bound.
        """
        walk = _Walk()
        for ep, bound in self._candidates(messages, max_tokens, walk):
            cfg = ep.config
            async with ep.slots:
                reservation = await self.budget.reserve(bound, quota=quota)  # spent: raise
                parts: list[str] = []
                spent, usage, failed, ended, finish = bound, None, None, False, None
                try:
                    chunks = await ep.retrier.call(self._open_stream, ep, messages, max_tokens)
                    async for chunk in chunks:
                        usage = chunk.usage or usage
                        choice = chunk.choices[0] if chunk.choices else None
                        finish = (choice and choice.finish_reason) or finish
                        if choice and choice.delta.content:
                            parts.append(choice.delta.content)
                            yield choice.delta.content
                    if finish is None:
                        raise LLMTransient("the stream ended before its finish_reason", cfg.name)
                    tokens_in, tokens_out = stream_usage(usage, messages, parts, max_tokens)
                    spent = cost_micro(self.prices[cfg.model], tokens_in, tokens_out)
                except Timeout as err:
                    failed = LLMTransient(str(err), cfg.name)
                except Exception as err:  # the SDK's and httpx's errors, mapped in one place
                    failed = classify(err, cfg.name)
                else:
                    ended = True
                finally:
                    if failed is not None and not parts:
                        spent = 0  # nothing was produced: like `complete`, nothing charged
                    await self.budget.settle(reservation, spent)
                    if not ended and failed is None:  # the caller walked away mid-stream
                        failed = LLMTransient("stream abandoned by the caller", cfg.name)
                        await record_error(self.pool, cfg, purpose, trace_id, failed, spent)
            if failed is not None:
                await record_error(self.pool, cfg, purpose, trace_id, failed, spent)
                if parts:  # the caller has text already: no failover after the first delta
                    raise failed from None
                self._fail_over(ep, failed, walk)
                continue
            done = Completion(
                "".join(parts), None, cfg.name, cfg.model, tokens_in, tokens_out, spent / MICRO
            )
            await record(self.pool, done, purpose, trace_id, "ok")
            yield done
            return
        raise walk.exhausted()

    async def _open_stream(self, ep: _Endpoint, messages: Messages, max_tokens: int) -> Any:
        cfg = ep.config
        await ep.limiter.acquire()  # the caller holds the endpoint's concurrency slot
        if ep.tokens is not None:
            await ep.tokens.acquire(token_estimate(messages, max_tokens))
        try:
            return await ep.client.chat.completions.create(
                model=cfg.model, messages=list(messages), max_tokens=max_tokens, stream=True,
                stream_options={"include_usage": True},
            )  # fmt: skip
        except openai.OpenAIError as err:
            raise classify(err, cfg.name) from None

    async def _send(
        self,
        ep: _Endpoint,
        messages: Messages,
        max_tokens: int,
        sent: tuple[str, str, dict[str, Any]] | None,
    ) -> Completion:
        """One request; `sent` is (structured mode, schema name, schema) or None."""
        cfg = ep.config
        kwargs: dict[str, Any] = {}
        if sent is not None:
            mode, name, schema = sent
            messages = with_schema_hint(mode, messages, schema)
            if (fmt := response_format(mode, name, schema)) is not None:
                kwargs["response_format"] = fmt
        await ep.limiter.acquire()  # the caller holds the endpoint's concurrency slot
        if ep.tokens is not None:
            await ep.tokens.acquire(token_estimate(messages, max_tokens))
        try:
            answer = await ep.client.chat.completions.create(
                model=cfg.model, messages=list(messages), max_tokens=max_tokens, **kwargs
            )
        except openai.OpenAIError as err:
            raise classify(err, cfg.name) from None
        usage = answer.usage
        choice = answer.choices[0] if answer.choices else None
        text = (choice.message.content or "") if choice else ""
        finish = choice.finish_reason if choice else None
        tokens = (usage.prompt_tokens, usage.completion_tokens)
        if cut := window_cut(finish, *tokens, max_tokens, cfg.context_window, cfg.name):
            raise cut
        return Completion(
            text, None, cfg.name, cfg.model, usage.prompt_tokens, usage.completion_tokens, 0.0
        )

    def health(self) -> list[dict[str, Any]]:
        """Per endpoint: its structured mode now and as configured, the step-downs, cooldown."""
        now = time.monotonic()
        return [
            {
                "endpoint": ep.config.name,
                "structured": ep.mode,
                "configured": getattr(ep.config, "structured", "json_schema"),
                "downgrades": list(ep.downgrades),
                "cooling_s": round(max(0.0, ep.cool_until - now), 1),
            }
            for ep in self.endpoints
        ]

    async def aclose(self) -> None:
        """Close every endpoint's HTTP client."""
        for ep in self.endpoints:
            await ep.client.close()

"""The LLM gateway: OpenAI-compatible endpoints in priority order, budgets, one error map.

Per call: for each endpoint not cooling down — refuse if the call's cost bound exceeds the
per-call ceiling (nothing sent), take the endpoint's slot and reserve the bound from the
daily budget (`_held`), send through the endpoint (`core.llm.endpoint`: the `openai` SDK,
its own retries off: ours honour `Retry-After` under a deadline), settle the real cost from
`usage`, record the call (`core.llm.usage`). Transient failures retry, then fail over and
cool the endpoint down; a context-length error moves on to a larger window; other permanent
errors stop. Structured answers are validated by pydantic, with one repair attempt. A
streamed answer takes the same way, but fails over only until its first delta.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
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
)
from core.llm.cost import MICRO, PriceLike, bound_micro, cost_micro
from core.llm.endpoint import Endpoint, Sent
from core.llm.limits import TokenWindow, token_estimate
from core.llm.structured import FormatRefused, answer_schema
from core.llm.usage import record, record_error

__all__ = ["Completion", "LLMGateway", "TokenWindow", "classify", "token_estimate"]
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


@dataclass
class _Charge:
    """What a call in flight will be charged when its reservation settles (micro-dollars)."""

    micro: int


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
        self.endpoints = [Endpoint(c, key, retry) for c, key in endpoints]
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

    @asynccontextmanager
    async def _held(
        self, ep: Endpoint, bound: int, quota: Quota | None, charge: _Charge
    ) -> AsyncIterator[None]:
        """The endpoint's slot, then `bound` reserved (a spent budget raises at once); on the
        way out the reservation settles at `charge.micro`, whatever happened inside."""
        # The slot first, then the reservation: calls queue in arrival order and a
        # reservation is held only while its call can actually be in flight.
        async with ep.slots:
            reservation = await self.budget.reserve(bound, quota=quota)
            try:
                yield
            finally:
                await self.budget.settle(reservation, charge.micro)

    async def _attempt(
        self,
        ep: Endpoint,
        bound: int,
        messages: Messages,
        max_tokens: int,
        sent: Sent | None,
        quota: Quota | None = None,
    ) -> tuple[Completion | None, LLMError | None]:
        """One endpoint's try (with its retries): the costed answer, or the error."""
        price = self.prices[ep.config.model]
        charge = _Charge(0)
        async with self._held(ep, bound, quota, charge):
            try:
                done = await ep.retrier.call(ep.answer, messages, max_tokens, sent)
            except (LLMError, Timeout) as err:
                failed = _llm_error(err, ep.config.name)
                if isinstance(failed, WindowCut):  # the cut answer's tokens were spent
                    tokens = (failed.tokens_in, failed.tokens_out)
                    charge.micro = failed.cost_micro = cost_micro(price, *tokens)
                return None, failed
            charge.micro = cost_micro(price, done.tokens_in, done.tokens_out)
        return Completion(**{**fields(done), "cost_usd": charge.micro / MICRO}), None

    def _candidates(
        self, messages: Messages, max_tokens: int, walk: _Walk
    ) -> Iterator[tuple[Endpoint, int]]:
        """Endpoints to try in priority order, each with its cost bound: not cooling down,
        with a larger window than one that was too small, and under the per-call ceiling."""
        now = time.monotonic()
        for ep in self.endpoints:
            cfg = ep.config
            if ep.cooling(now) or cfg.context_window <= walk.min_window:
                continue
            bound = bound_micro(self.prices[cfg.model], messages, max_tokens)
            if bound > self.per_call_micro:
                walk.last = self._over_ceiling(bound, cfg.name)
                continue
            yield ep, bound

    def _fail_over(self, ep: Endpoint, failed: LLMError, walk: _Walk) -> None:
        """After a failed attempt: go on to a larger window, or cool this endpoint down and
        go on to the next; any other error stops the request."""
        walk.last = failed
        if isinstance(failed, ContextTooLong):
            walk.min_window = ep.config.context_window
        elif isinstance(failed, LLMTransient):
            ep.cool_down(self.cooldown_s)
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
            parts: list[str] = []
            charge = _Charge(bound)
            usage, failed, ended, finish, opened = None, None, False, None, False
            try:
                async with self._held(ep, bound, quota, charge):
                    opened = True
                    try:
                        chunks = await ep.retrier.call(ep.open_stream, messages, max_tokens)
                        async for chunk in chunks:
                            usage = chunk.usage or usage
                            choice = chunk.choices[0] if chunk.choices else None
                            finish = (choice and choice.finish_reason) or finish
                            if choice and choice.delta.content:
                                parts.append(choice.delta.content)
                                yield choice.delta.content
                        if finish is None:
                            cut = "the stream ended before its finish_reason"
                            raise LLMTransient(cut, cfg.name)
                        tokens_in, tokens_out = stream_usage(usage, messages, parts, max_tokens)
                        charge.micro = cost_micro(self.prices[cfg.model], tokens_in, tokens_out)
                    except Exception as err:  # the SDK's and httpx's errors, mapped in one place
                        failed = _llm_error(err, cfg.name)
                    else:
                        ended = True
                    if failed is not None and not parts:
                        charge.micro = 0  # nothing was produced: like `complete`, nothing charged
            finally:  # settled by now
                if opened and not ended and failed is None:  # the caller walked away mid-stream
                    failed = LLMTransient("stream abandoned by the caller", cfg.name)
                    await record_error(self.pool, cfg, purpose, trace_id, failed, charge.micro)
            if failed is not None:
                await record_error(self.pool, cfg, purpose, trace_id, failed, charge.micro)
                if parts:  # the caller has text already: no failover after the first delta
                    raise failed from None
                self._fail_over(ep, failed, walk)
                continue
            done = Completion(
                "".join(parts), None, cfg.name, cfg.model, tokens_in, tokens_out,
                charge.micro / MICRO,
            )  # fmt: skip
            await record(self.pool, done, purpose, trace_id, "ok")
            yield done
            return
        raise walk.exhausted()

    def health(self) -> list[dict[str, Any]]:
        """Per endpoint: its structured mode now and as configured, the step-downs, cooldown."""
        now = time.monotonic()
        return [ep.health(now) for ep in self.endpoints]

    async def aclose(self) -> None:
        """Close every endpoint's HTTP client."""
        for ep in self.endpoints:
            await ep.client.close()


def _llm_error(err: Exception, endpoint: str) -> LLMError:
    """A failed attempt as an `LLMError`: a retrier's `Timeout` (its deadline) is transient,
    anything else goes through the one error map."""
    if isinstance(err, Timeout):
        return LLMTransient(str(err), endpoint)
    return classify(err, endpoint)

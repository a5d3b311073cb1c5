"""One OpenAI-compatible endpoint as the gateway uses it: its client, its limits (concurrency,
requests per minute through the project's window limiter, tokens per minute), its cooldown
and structured mode, and the one way a request is sent to it (`request`), whole or streamed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import openai

from core.llm.calls import Completion, EndpointLike, Messages, classify, window_cut
from core.llm.limits import TokenWindow, token_estimate
from core.llm.structured import FormatRefused, response_format, weaker, with_schema_hint
from core.redact import register_secret
from core.resilience import LocalRateLimiter, Retrier, Window

log = logging.getLogger("stockray.llm")
Sent = tuple[str, str, dict[str, Any]]
"""What a structured call sends: (structured mode, schema name, schema)."""


class Endpoint:
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

    def cool_down(self, seconds: float) -> None:
        """Skip this endpoint for `seconds` (after a transient failure)."""
        self.cool_until = time.monotonic() + seconds

    def cooling(self, now: float) -> bool:
        """Whether the endpoint is still cooling down at monotonic time `now`."""
        return self.cool_until > now

    async def request(self, messages: Messages, max_tokens: int, **kwargs: Any) -> Any:
        """The one way a request leaves: under the endpoint's request and token rates (the
        caller holds its concurrency slot), the SDK's errors mapped to ours."""
        await self.limiter.acquire()
        if self.tokens is not None:
            await self.tokens.acquire(token_estimate(messages, max_tokens))
        try:
            return await self.client.chat.completions.create(
                model=self.config.model, messages=list(messages), max_tokens=max_tokens, **kwargs
            )
        except openai.OpenAIError as err:
            raise classify(err, self.config.name) from None

    async def answer(self, messages: Messages, max_tokens: int, sent: Sent | None) -> Completion:
        """One whole answer, not yet priced; `sent` says how a schema goes with it."""
        cfg = self.config
        kwargs: dict[str, Any] = {}
        if sent is not None:
            mode, name, schema = sent
            messages = with_schema_hint(mode, messages, schema)
            if (fmt := response_format(mode, name, schema)) is not None:
                kwargs["response_format"] = fmt
        answer = await self.request(messages, max_tokens, **kwargs)
        usage = answer.usage
        choice = answer.choices[0] if answer.choices else None
        text = (choice.message.content or "") if choice else ""
        finish = choice.finish_reason if choice else None
        tokens = (usage.prompt_tokens, usage.completion_tokens)
        if cut := window_cut(finish, *tokens, max_tokens, cfg.context_window, cfg.name):
            raise cut
        return Completion(text, None, cfg.name, cfg.model, *tokens, 0.0)

    async def open_stream(self, messages: Messages, max_tokens: int) -> Any:
        """The answer's chunks as they come, the last one carrying `usage`."""
        return await self.request(
            messages, max_tokens, stream=True, stream_options={"include_usage": True}
        )

    def health(self, now: float) -> dict[str, Any]:
        """Its structured mode now and as configured, the step-downs, the cooldown left."""
        return {
            "endpoint": self.config.name,
            "structured": self.mode,
            "configured": getattr(self.config, "structured", "json_schema"),
            "downgrades": list(self.downgrades),
            "cooling_s": round(max(0.0, self.cool_until - now), 1),
        }

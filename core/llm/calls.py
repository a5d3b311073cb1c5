"""One LLM call's shapes: the endpoint config the gateway reads, the finished completion,
the one map from the `openai` SDK's errors to ours, and the validation of an answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import openai
from pydantic import BaseModel, ValidationError

from core.errors import ContextTooLong, InvalidAnswer, LLMError, LLMPermanent, LLMTransient
from core.llm.cost import prompt_token_bound
from core.llm.structured import FormatRefused, refuses_format
from core.redact import scrub

Messages = Sequence[Mapping[str, str]]
Check = Callable[[BaseModel], None]


class EndpointLike(Protocol):
    """What the gateway reads of one endpoint's config (`configs.sections.LlmEndpoint`)."""

    name: str
    base_url: str
    model: str
    context_window: int
    rpm: int
    tpm: int | None
    max_concurrency: int
    structured: str
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished call: the text, the validated object (if a schema was given), the cost."""

    text: str
    parsed: BaseModel | None
    endpoint: str
    model: str
    tokens_in: int
    tokens_out: int
    cost_usd: float


class WindowCut(ContextTooLong):
    """The endpoint cut its answer at the context window (llama.cpp's server shortens
    `max_tokens` to what is left of `n_ctx` instead of refusing): the tokens were spent and
    are charged, and a larger window may take the whole answer."""

    def __init__(self, message: str, endpoint: str, tokens_in: int, tokens_out: int) -> None:
        super().__init__(message, endpoint)
        self.args = (self.message, endpoint, tokens_in, tokens_out)  # pickled as cls(*args)
        self.tokens_in, self.tokens_out = tokens_in, tokens_out
        self.cost_micro = 0  # set by the gateway once priced


def window_cut(
    finish_reason: str | None,
    tokens_in: int,
    tokens_out: int,
    max_tokens: int,
    window: int,
    endpoint: str,
) -> WindowCut | None:
    """A `WindowCut` when an answer stopped for length before `max_tokens` with the prompt
    and answer filling the endpoint's `window`: the window cut it, not `max_tokens`."""
    if finish_reason != "length" or tokens_out >= max_tokens or tokens_in + tokens_out < window:
        return None
    return WindowCut(
        f"the answer was cut at the context window of {window} tokens after {tokens_out} of "
        f"{max_tokens} ({tokens_in} in the prompt)",
        endpoint, tokens_in, tokens_out,
    )  # fmt: skip


def classify(err: Exception, endpoint: str) -> LLMError:
    """Map an `openai` SDK error to our typed tree, in this one place."""
    if isinstance(err, LLMError):
        return err
    # Scrubbed before it is cut, so no part of a key survives the cut.
    message = scrub(str(getattr(err, "message", None) or err))[:300]
    if isinstance(err, openai.APITimeoutError):  # before APIConnectionError: it is one
        return LLMTransient(f"timeout: {message}", endpoint)
    if isinstance(err, (openai.APIConnectionError, httpx.TransportError)):
        return LLMTransient(f"connection: {message}", endpoint)
    if isinstance(err, openai.APIStatusError):
        status, code = err.status_code, getattr(err, "code", None)
        if refuses_format(status, message):  # before 5xx: llama.cpp refuses with a 500
            return FormatRefused(f"{status}: {message}", endpoint)
        if status == 429 or status >= 500:
            return LLMTransient(f"{status}: {message}", endpoint, _retry_after(err))
        if code == "context_length_exceeded":
            return ContextTooLong(message, endpoint)
        return LLMPermanent(f"{status} {code or ''}: {message}".replace("  ", " "), endpoint)
    return LLMPermanent(f"{type(err).__name__}: {message}", endpoint)


def _retry_after(err: openai.APIStatusError) -> float | None:
    try:
        return float(err.response.headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


def stream_usage(
    usage: Any, messages: Messages, parts: Sequence[str], max_tokens: int
) -> tuple[int, int]:
    """Tokens of a finished stream: its `usage` chunk, else bounds (never under-charged)."""
    if usage is not None:
        return usage.prompt_tokens, usage.completion_tokens
    return prompt_token_bound(messages), min(max_tokens, len("".join(parts).encode()))


def fields(done: Completion) -> dict[str, Any]:
    return {f: getattr(done, f) for f in Completion.__dataclass_fields__}


def parsed_answer(done: Completion, schema: type[BaseModel], check: Check | None) -> Completion:
    try:
        # strict=False: a raw newline or tab inside a string (small models write them)
        # is read as the character it is, not refused as invalid JSON.
        parsed = schema.model_validate(json.loads(done.text, strict=False))
        if check is not None:
            check(parsed)
    except (ValueError, ValidationError) as err:
        problem = str(err).splitlines()[0][:200]
        raise InvalidAnswer(
            f"answer failed validation: {problem}", done.endpoint, raw=done.text
        ) from None
    return Completion(**{**fields(done), "parsed": parsed})

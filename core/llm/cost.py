"""Prices, token bounds and the per-call ceiling.

A call's cost is only known from its `usage`; before sending, we bound it. The bound on
prompt tokens is the prompt's UTF-8 byte count (every token of a byte-level BPE covers at
least one byte) plus a per-message overhead: loose, but a true upper bound, so a budget
reserved with it can never be overrun when the call settles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

MICRO = 1_000_000
MESSAGE_OVERHEAD_TOKENS = 8
REQUEST_OVERHEAD_TOKENS = 16


class PriceLike(Protocol):
    """USD per million input and output tokens (`configs.sections.ModelPrice`)."""

    input_per_mtok: float
    output_per_mtok: float


def prompt_token_bound(messages: Sequence[Mapping[str, str]]) -> int:
    """An upper bound on the prompt tokens of `messages`."""
    body = sum(len(str(m.get("content", "")).encode()) for m in messages)
    return body + MESSAGE_OVERHEAD_TOKENS * len(messages) + REQUEST_OVERHEAD_TOKENS


def cost_micro(price: PriceLike, tokens_in: int, tokens_out: int) -> int:
    """Cost in micro-dollars, rounded up (a budget is never under-charged)."""
    usd = tokens_in * price.input_per_mtok / 1e6 + tokens_out * price.output_per_mtok / 1e6
    return math.ceil(usd * MICRO - 1e-9)


def bound_micro(price: PriceLike, messages: Sequence[Mapping[str, str]], max_tokens: int) -> int:
    """The most a call with `messages` and `max_tokens` can cost, in micro-dollars."""
    return cost_micro(price, prompt_token_bound(messages), max_tokens)

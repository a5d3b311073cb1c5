"""The `llm_usage` ledger: one row per call that reached an endpoint, with what it cost.

Answers are recorded with the tokens of the endpoint's `usage`; failures with the cost
charged for them (nothing, unless tokens were spent: an answer cut at the context window,
a stream broken after its first delta); an answer that stayed invalid adds a marker row
at no cost, holding the raw text. Rows go through `core.storage.llm_usage`.
"""

from __future__ import annotations

import asyncpg

from core.errors import LLMError
from core.llm.calls import Completion, EndpointLike, WindowCut
from core.llm.cost import MICRO
from core.storage import llm_usage
from core.storage.llm_usage import UsageRow


async def record(
    pool: asyncpg.Pool,
    done: Completion,
    purpose: str,
    trace_id: str | None,
    status: str,
    detail: str | None = None,
) -> None:
    """A finished call (`ok`), or the `invalid` marker of one whose answer failed validation."""
    row = UsageRow(
        done.endpoint, done.model, done.tokens_in, done.tokens_out,
        round(done.cost_usd * MICRO), trace_id, purpose, status, detail,
    )  # fmt: skip
    await llm_usage.insert(pool, row)


async def record_error(
    pool: asyncpg.Pool,
    cfg: EndpointLike,
    purpose: str,
    trace_id: str | None,
    err: LLMError,
    micro: int = 0,
) -> None:
    """A failed call, charged `micro` (a `WindowCut` carries its own tokens and cost)."""
    tokens = (0, 0)
    if isinstance(err, WindowCut):  # an answer came, cut short: its tokens were charged
        tokens, micro = (err.tokens_in, err.tokens_out), err.cost_micro
    row = UsageRow(
        cfg.name, cfg.model, *tokens, micro, trace_id, purpose, "error",
        f"{type(err).__name__}: {err.message}"[:500],
    )  # fmt: skip
    await llm_usage.insert(pool, row)

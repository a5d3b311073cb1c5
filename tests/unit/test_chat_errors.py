"""Chat's refusals and the LLM's own errors in the one hierarchy: declared status and code,
fields kept through pickling (Ray's, between the chat replica and the API's)."""

from __future__ import annotations

import pickle

import pytest

from core.errors import (
    BudgetExceeded,
    ChatFailed,
    ChatNotFound,
    ChatRefused,
    IdempotencyConflict,
    QuotaExceeded,
    TurnInProgress,
)
from core.llm.calls import WindowCut
from core.llm.structured import FormatRefused

ERRORS = [
    ChatNotFound("no chat session 'x'"),
    IdempotencyConflict("this Idempotency-Key was used for a different message"),
    TurnInProgress("this message is still being answered; retry soon"),
    ChatFailed("chat failed", "llm_failed"),
    ChatFailed("the turn ended without an answer"),
    QuotaExceeded("this key's daily chat quota is spent", retry_after=3600),
    WindowCut("cut at the window", "local", 900, 124),
    FormatRefused("500: response_format must be one of", "llama"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_pickling_keeps_the_fields(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__ and copy.args == error.args
    assert str(copy) == str(error)
    assert type(error).__reduce__ is BaseException.__reduce__


@pytest.mark.parametrize(
    ("error", "status", "code", "retry_after"),
    [
        (ChatNotFound("x"), 404, "not_found", None),
        (IdempotencyConflict("x"), 409, "idempotency_conflict", None),
        (TurnInProgress("x"), 409, "in_progress", 2.0),
        (ChatFailed("x"), 503, "chat_failed", None),
        (ChatFailed("x", "llm_failed"), 503, "llm_failed", None),
    ],
)
def test_each_refusal_declares_its_answer(
    error: ChatRefused, status: int, code: str, retry_after: float | None
) -> None:
    assert (error.status, error.code, error.retry_after) == (status, code, retry_after)
    assert str(error) == error.message == "x"


def test_a_spent_quota_is_a_spent_budget() -> None:
    assert isinstance(QuotaExceeded("q", retry_after=5), BudgetExceeded)
    cut = pickle.loads(pickle.dumps(WindowCut("cut", "local", 900, 124)))
    assert (cut.tokens_in, cut.tokens_out, cut.endpoint) == (900, 124, "local")

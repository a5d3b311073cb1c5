"""The error hierarchy: declared fields, and pickling (Ray's) keeps every field."""

from __future__ import annotations

import inspect
import pickle
from datetime import UTC, datetime, timedelta

import pytest

import core.errors
import core.resilience.errors
from core.errors import (
    AuthError,
    BadPayload,
    BudgetExceeded,
    ChatFailed,
    ChatNotFound,
    ChatRefused,
    ContextTooLong,
    IdempotencyConflict,
    InvalidAnswer,
    LLMError,
    LLMPermanent,
    LLMTransient,
    MigrationError,
    NotFound,
    PlanLimit,
    ProviderError,
    QuotaExceeded,
    QuotaExhausted,
    RateLimited,
    StockrayError,
    Timeout,
    TurnInProgress,
    Unavailable,
)
from core.providers.newsapi import ResultCapReached
from core.resilience import CircuitOpen, Throttled
from core.routing import NoProviderAvailable
from core.storage import migrations
from core.storage.writers import UnknownInstrument

RESET = datetime.now(UTC) + timedelta(hours=2)
ERRORS: list[StockrayError] = [
    StockrayError("boom"),
    MigrationError("0002_x.sql changed after it was applied"),
    ProviderError("yahoo", "odd"),
    RateLimited("yahoo", "slow down", 2.5),
    RateLimited("yahoo", "slow down"),
    QuotaExhausted("newsapi", "spent", RESET),
    Unavailable("dart", "503"),
    Timeout("dart", "no answer in 10s"),
    AuthError("alphavantage", "bad key"),
    PlanLimit("alphavantage", "premium endpoint"),
    NotFound("yahoo", "no such symbol"),
    BadPayload("yahoo", "missing", "chart.result"),
    BadPayload("yahoo", "not JSON"),
    Throttled("yahoo", 0.25),
    CircuitOpen("yahoo", 12.5),
    CircuitOpen("newsapi", 3600.0, "quota spent"),
    NoProviderAvailable("prices", "no enabled provider"),
    ResultCapReached("newsapi", "maximumResultsReached"),
    LLMError("refused", "local", 1.5, "raw text"),
    LLMTransient("429", "openai", 3.0),
    LLMPermanent("400"),
    ContextTooLong("too long", "small"),
    InvalidAnswer("bad JSON", "local", raw="{"),
    BudgetExceeded("over budget"),
    QuotaExceeded("daily chat quota spent", None, 3600.0),
    ChatRefused("no question"),
    ChatNotFound("no such session"),
    IdempotencyConflict("key reused"),
    TurnInProgress("still answering"),
    ChatFailed("no answer", "llm_failed"),
    UnknownInstrument("bars", "NOPE"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_pickling_keeps_the_class_fields_and_message(error: StockrayError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__
    assert str(copy) == str(error)
    assert copy.args == error.args


def test_every_error_class_of_the_hierarchy_is_covered() -> None:
    declared = {
        cls
        for module in (core.errors, core.resilience.errors)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, StockrayError)
    }
    assert declared <= {type(e) for e in ERRORS}


def test_no_error_pickles_through_a_hand_written_reduce() -> None:
    for error in ERRORS:
        assert type(error).__reduce__ is BaseException.__reduce__, type(error).__name__


def test_messages_read_as_before() -> None:
    assert str(RateLimited("yahoo", "slow down", 2.5)) == "yahoo: slow down"
    assert str(BadPayload("yahoo", "missing", "a.b")) == "yahoo: missing (field 'a.b')"
    assert str(Throttled("p", 0.25)) == "p: local rate limit: next slot in 0.250s"
    assert str(LLMTransient("429", "openai")) == "openai: 429"
    assert str(LLMPermanent("400")) == "400"
    reset = datetime.now(UTC) + timedelta(hours=2)
    assert 0 < QuotaExhausted("n", "spent", reset).retry_after <= 7200


@pytest.mark.parametrize(
    ("error", "failover"),
    [
        (AuthError("p", "key"), True),  # another provider, with its own key, may serve
        (BadPayload("p", "garbage"), True),
        (PlanLimit("p", "premium"), True),
        (RateLimited("p", "429"), True),
        (QuotaExhausted("p", "spent", RESET), True),
        (Unavailable("p", "503"), True),
        (Timeout("p", "late"), True),
        (CircuitOpen("p", 1.0), True),
        (Throttled("p", 1.0), True),
        (NotFound("p", "unknown symbol"), False),  # nobody else knows it either
    ],
)
def test_failover_is_declared_by_each_error(error: ProviderError, failover: bool) -> None:
    assert error.failover is failover


def test_migration_error_is_in_the_hierarchy_and_where_it_was() -> None:
    assert issubclass(MigrationError, StockrayError)
    assert migrations.MigrationError is MigrationError


@pytest.mark.parametrize(
    ("error", "moves_on"),
    [
        (AuthError("yahoo", "key revoked"), True),
        (BadPayload("yahoo", "truncated"), True),
        (Unavailable("yahoo", "503"), True),
        (NotFound("yahoo", "unknown symbol"), False),
    ],
)
async def test_the_router_reads_the_declaration(error: ProviderError, moves_on: bool) -> None:
    from core.models import Capability
    from core.routing import FailoverRouter

    asked: list[str] = []

    async def call(provider: str, method: str, args: tuple, has_next: bool, left: float) -> str:
        asked.append(provider)
        if provider == "yahoo":
            raise error
        return "bars"

    order = {Capability.PRICES: ["yahoo", "alphavantage"]}
    router = FailoverRouter(order, {"yahoo", "alphavantage"}, call)
    if moves_on:
        routed = await router.route(Capability.PRICES, "AAPL", interval="1d")
        assert (routed.provider, routed.result) == ("alphavantage", "bars")
    else:
        with pytest.raises(type(error)):
            await router.route(Capability.PRICES, "AAPL", interval="1d")
    assert asked == (["yahoo", "alphavantage"] if moves_on else ["yahoo"])

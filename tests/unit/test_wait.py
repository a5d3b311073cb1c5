"""The one wait helper: poll/eventually, sync and async."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from core.wait import aeventually, apoll, eventually, poll


def counter(truthy_from: int) -> Iterator[int]:
    """0 (falsy) until the `truthy_from`-th call, which answers that call's number."""
    return (n if n >= truthy_from else 0 for n in itertools.count(1))


def test_poll_returns_the_first_truthy_answer() -> None:
    calls = counter(3)
    assert poll(lambda: next(calls), timeout_s=30, interval_s=0) == 3


def test_poll_returns_the_last_answer_when_time_runs_out() -> None:
    assert poll(lambda: [], timeout_s=0.05, interval_s=0.01) == []


def test_eventually_raises_naming_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match="the port opens"):
        eventually(lambda: False, timeout_s=0.05, interval_s=0.01, what="the port opens")


def test_ignored_errors_count_as_not_yet() -> None:
    answers = iter([ConnectionError("refused"), ConnectionError("refused"), "up"])

    def check() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert eventually(check, timeout_s=30, interval_s=0, ignore=OSError) == "up"


def test_other_errors_stop_the_wait() -> None:
    def check() -> bool:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        eventually(check, timeout_s=30, interval_s=0, ignore=OSError)


def test_an_ignored_error_to_the_end_is_the_cause() -> None:
    def check() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(TimeoutError) as caught:
        eventually(check, timeout_s=0.05, interval_s=0.01, ignore=OSError)
    assert isinstance(caught.value.__cause__, ConnectionError)
    with pytest.raises(ConnectionError):
        poll(check, timeout_s=0.05, interval_s=0.01, ignore=OSError)


async def test_async_forms_take_sync_and_async_checks() -> None:
    calls = counter(2)

    async def check() -> int:
        return next(calls)

    assert await aeventually(check, timeout_s=30, interval_s=0) == 2
    sync_calls = counter(2)
    assert await apoll(lambda: next(sync_calls), timeout_s=30, interval_s=0) == 2
    assert await apoll(lambda: 0, timeout_s=0.05, interval_s=0.01) == 0
    with pytest.raises(TimeoutError):
        await aeventually(check_never, timeout_s=0.05, interval_s=0.01)


async def check_never() -> bool:
    return False


def test_until_judges_each_answer_and_the_last_is_handed_back() -> None:
    pages = iter(["", "partial", "metric_total 1", "metric_total 2"])
    found = poll(
        lambda: next(pages), until=lambda t: "metric_total" in t, timeout_s=30, interval_s=0
    )
    assert found == "metric_total 1"
    assert poll(lambda: "partial", until=lambda t: "x" in t, timeout_s=0.05, interval_s=0.01) == (
        "partial"
    )

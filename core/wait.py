"""One way to wait for a condition: ask again at an interval until it holds or time runs out.

`poll` hands back the last answer when time runs out (the caller judges it, e.g. in a test's
assert); `eventually` raises `TimeoutError` instead. An answer holds when `until(answer)`
(default: it is truthy). Both take a sync or async `check`; the async forms (`apoll`,
`aeventually`) sleep on the event loop. Exceptions listed in `ignore` count as "not yet".
Built on tenacity, as the retrier is.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

T = TypeVar("T")
Errors = type[BaseException] | tuple[type[BaseException], ...]
INTERVAL_S = 0.1
"""Default pause between two checks."""


def _last(state: RetryCallState) -> Any:
    assert state.outcome is not None
    return state.outcome.result()  # the last answer, or the last ignored error raised again


def _timed_out(what: str, timeout_s: float) -> Callable[[RetryCallState], Any]:
    def fail(state: RetryCallState) -> Any:
        assert state.outcome is not None
        message = f"{what}: not so after {timeout_s:g}s ({state.attempt_number} checks)"
        raise TimeoutError(message) from state.outcome.exception()

    return fail


def _policy(
    timeout_s: float,
    interval_s: float,
    ignore: Errors,
    until: Callable[[Any], object],
    on_timeout: Callable,
) -> dict[str, Any]:
    return {
        "stop": stop_after_delay(timeout_s),
        "wait": wait_fixed(interval_s),
        "retry": retry_if_result(lambda answer: not until(answer))
        | retry_if_exception_type(ignore),
        "retry_error_callback": on_timeout,
    }


def poll(
    check: Callable[[], T],
    *,
    timeout_s: float,
    interval_s: float = INTERVAL_S,
    ignore: Errors = (),
    until: Callable[[T], object] = bool,
) -> T:
    """The first answer of `check()` that holds, or the last one once `timeout_s` has passed."""
    return Retrying(**_policy(timeout_s, interval_s, ignore, until, _last))(check)


def eventually(
    check: Callable[[], T],
    *,
    timeout_s: float,
    interval_s: float = INTERVAL_S,
    ignore: Errors = (),
    until: Callable[[T], object] = bool,
    what: str = "condition",
) -> T:
    """The first answer of `check()` that holds; `TimeoutError` naming `what` once `timeout_s`
    has passed."""
    on_timeout = _timed_out(what, timeout_s)
    return Retrying(**_policy(timeout_s, interval_s, ignore, until, on_timeout))(check)


async def _answer(check: Callable[[], T | Awaitable[T]]) -> T:
    result = check()
    return await result if inspect.isawaitable(result) else result


async def apoll(
    check: Callable[[], T | Awaitable[T]],
    *,
    timeout_s: float,
    interval_s: float = INTERVAL_S,
    ignore: Errors = (),
    until: Callable[[T], object] = bool,
) -> T:
    """`poll` on the event loop; `check` may be a coroutine function."""
    retrying = AsyncRetrying(**_policy(timeout_s, interval_s, ignore, until, _last))
    return await retrying(_answer, check)


async def aeventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    timeout_s: float,
    interval_s: float = INTERVAL_S,
    ignore: Errors = (),
    until: Callable[[T], object] = bool,
    what: str = "condition",
) -> T:
    """`eventually` on the event loop; `check` may be a coroutine function."""
    on_timeout = _timed_out(what, timeout_s)
    retrying = AsyncRetrying(**_policy(timeout_s, interval_s, ignore, until, on_timeout))
    return await retrying(_answer, check)

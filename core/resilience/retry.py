"""Retrying provider calls: full-jitter exponential backoff within attempts and a deadline.

Built on tenacity (the loop, stop and wait combinators); this module only encodes
stockray's policy: which errors retry (`ProviderError.retryable`), that a provider's
`retry_after` is a floor for the next delay, and that the whole call, attempts included,
ends by `deadline_s`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import ParamSpec, Protocol, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from core.errors import LLMError, ProviderError, Timeout

P = ParamSpec("P")
T = TypeVar("T")

OnRetry = Callable[[int, BaseException, float], None]
"""Called before each backoff sleep with (attempt that failed, its error, seconds to sleep)."""


class RetryPolicyLike(Protocol):
    """Anything shaped like `configs.sections.RetryPolicy`."""

    @property
    def max_attempts(self) -> int: ...

    @property
    def base_delay_s(self) -> float: ...

    @property
    def max_delay_s(self) -> float: ...

    @property
    def deadline_s(self) -> float: ...


def _retryable(error: BaseException) -> bool:
    # Typed errors say so themselves (ProviderError and LLMError both carry `retryable`).
    return isinstance(error, ProviderError | LLMError) and error.retryable


class Retrier:
    """Retries one provider's calls: `await retrier.call(fn, *args, **kwargs)`.

    Attempt n sleeps uniform(0, min(max_delay_s, base_delay_s * 2**(n-1))), at least the
    error's `retry_after`; when that sleep would end past the deadline, the last error is raised.
    """

    def __init__(
        self,
        provider: str,
        *,
        max_attempts: int = 3,
        base_delay_s: float = 0.5,
        max_delay_s: float = 10.0,
        deadline_s: float = 30.0,
        on_retry: OnRetry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_attempts < 1 or base_delay_s <= 0 or max_delay_s <= 0 or deadline_s <= 0:
            raise ValueError("max_attempts >= 1 and positive delays and deadline are required")
        self.provider = provider
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.deadline_s = deadline_s
        self.on_retry = on_retry
        self._sleep = sleep  # injectable so tests can record delays without waiting them
        self._backoff = wait_random_exponential(multiplier=base_delay_s, max=max_delay_s)

    @classmethod
    def from_config(
        cls, provider: str, policy: RetryPolicyLike, on_retry: OnRetry | None = None
    ) -> Retrier:
        """A retrier with the numbers of `policy` (e.g. `ProviderConfig.retry`)."""
        return cls(
            provider,
            max_attempts=policy.max_attempts,
            base_delay_s=policy.base_delay_s,
            max_delay_s=policy.max_delay_s,
            deadline_s=policy.deadline_s,
            on_retry=on_retry,
        )

    def with_attempts(self, max_attempts: int) -> Retrier:
        """The same policy with another attempt budget (1: fail fast, e.g. to fail over)."""
        return Retrier(
            self.provider,
            max_attempts=max_attempts,
            base_delay_s=self.base_delay_s,
            max_delay_s=self.max_delay_s,
            deadline_s=self.deadline_s,
            on_retry=self.on_retry,
            sleep=self._sleep,
        )

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await `fn(*args, **kwargs)` until it succeeds, fails for good, or time runs out.

        An attempt still running at the deadline is cancelled and reported as `Timeout`.
        """
        return await self.call_within(self.deadline_s, fn, *args, **kwargs)

    async def call_within(
        self,
        deadline_s: float | None,
        fn: Callable[P, Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`call` ending by the sooner of `deadline_s` (the caller's time left) and the policy's."""
        budget = self.deadline_s if deadline_s is None else min(deadline_s, self.deadline_s)
        deadline = asyncio.get_running_loop().time() + budget

        async def attempt() -> T:
            window = asyncio.timeout_at(deadline)
            try:
                async with window:
                    return await fn(*args, **kwargs)
            except TimeoutError:
                if not window.expired():
                    raise
                raise Timeout(self.provider, f"call deadline of {budget:g}s") from None

        # A fresh AsyncRetrying per call: tenacity keeps per-call state on the object,
        # shared by every task of a thread, so concurrent calls must not share one.
        retrying = AsyncRetrying(
            sleep=self._sleep,
            stop=stop_after_attempt(self.max_attempts) | stop_before_delay(budget),
            wait=self._delay,
            retry=retry_if_exception(_retryable),
            before_sleep=self._report if self.on_retry else None,
            reraise=True,
        )
        return await retrying(attempt)

    def _delay(self, state: RetryCallState) -> float:
        backoff = self._backoff(state)
        error = state.outcome.exception() if state.outcome else None
        hint = getattr(error, "retry_after", None)
        return max(backoff, hint) if hint else backoff

    def _report(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if self.on_retry is not None and error is not None:
            self.on_retry(state.attempt_number, error, state.upcoming_sleep)

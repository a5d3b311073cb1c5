"""Typed errors of stockray.

The hierarchy decides retry, failover and what a user sees::

    StockrayError
    ├── ProviderError            a data provider call failed
    │   ├── RateLimited          the provider asked us to slow down (retry after `retry_after`)
    │   │   └── QuotaExhausted   a daily/rolling quota is spent until `reset_at` (no retry)
    │   ├── Unavailable          connection refused, 5xx, outage
    │   ├── Timeout              no answer within the client timeout
    │   ├── AuthError            missing, invalid or revoked key (never retried)
    │   ├── PlanLimit            the key's plan does not cover this request (never retried)
    │   ├── NotFound             unknown symbol or resource (never retried)
    │   └── BadPayload           malformed or truncated answer (never retried)
    └── LLMError                 an LLM call failed
        ├── LLMTransient         429, 5xx, timeouts: retry, then fail over
        ├── LLMPermanent         400, 401/403, unknown model, policy
        │   ├── ContextTooLong   the prompt exceeds the window: try a larger endpoint
        │   └── InvalidAnswer    the answer failed validation after one repair
        └── BudgetExceeded       the call would exceed a per-call or daily budget
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.redact import scrub


class StockrayError(Exception):
    """Base of every error stockray raises on purpose."""


class ProviderError(StockrayError):
    """A data provider call failed; `provider` names which one."""

    retryable: bool = False
    failover: bool = False

    def __init__(self, provider: str, message: str) -> None:
        message = scrub(message)  # at birth: nothing downstream can carry a key onwards
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message

    def __reduce__(self):  # keep fields across Ray's pickling
        return (self.__class__._rebuild, (self.__dict__,))

    @classmethod
    def _rebuild(cls, state: dict) -> ProviderError:
        err = cls.__new__(cls)
        state = {**state, "message": scrub(state["message"])}  # keys registered here too
        Exception.__init__(err, f"{state['provider']}: {state['message']}")
        err.__dict__.update(state)
        return err


class RateLimited(ProviderError):
    """The provider refused for rate; `retry_after` seconds is its hint (None when it gave none)."""

    retryable = True
    failover = True

    def __init__(self, provider: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(provider, message)
        self.retry_after = retry_after


class QuotaExhausted(RateLimited):
    """A daily (or rolling) quota is spent: no retry before `reset_at`; fail over meanwhile."""

    retryable = False

    def __init__(self, provider: str, message: str, reset_at: datetime) -> None:
        wait = max(0.0, (reset_at - datetime.now(UTC)).total_seconds())
        super().__init__(provider, message, wait)
        self.reset_at = reset_at


class Unavailable(ProviderError):
    """The provider could not be reached or answered 5xx."""

    retryable = True
    failover = True


class Timeout(ProviderError):
    """The provider did not answer within the client's timeout."""

    retryable = True
    failover = True


class AuthError(ProviderError):
    """The provider rejected our key, or none is configured."""


class PlanLimit(ProviderError):
    """The key's plan does not cover this request (a premium feature or endpoint, a demo
    key): permanent for this request, so never retried, but another provider may serve it."""

    failover = True


class NotFound(ProviderError):
    """The provider does not know the symbol or resource asked for."""


class BadPayload(ProviderError):
    """The provider's answer could not be parsed; `field` names where it broke."""

    def __init__(self, provider: str, message: str, field: str | None = None) -> None:
        super().__init__(provider, message if field is None else f"{message} (field {field!r})")
        self.field = field


class LLMError(StockrayError):
    """An LLM call failed; `endpoint` names where (None: before any endpoint was tried)."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        endpoint: str | None = None,
        retry_after: float | None = None,
        raw: str | None = None,
    ) -> None:
        message = scrub(message)  # at birth: nothing downstream can carry a key onwards
        super().__init__(f"{endpoint}: {message}" if endpoint else message)
        self.message = message
        self.endpoint = endpoint
        self.retry_after = retry_after
        self.raw = raw if raw is None else scrub(raw)  # the model's text, when it was the problem

    def __reduce__(self):  # keep fields across Ray's pickling
        return (self.__class__, (self.message, self.endpoint, self.retry_after, self.raw))


class LLMTransient(LLMError):
    """A retryable LLM failure (429, 5xx, timeout, connection)."""

    retryable = True


class LLMPermanent(LLMError):
    """An LLM failure that retrying the same endpoint cannot fix."""


class ContextTooLong(LLMPermanent):
    """The prompt does not fit this endpoint's context window; a larger one may take it."""


class InvalidAnswer(LLMPermanent):
    """The model's answer failed validation even after one repair attempt; `raw` holds it."""


class BudgetExceeded(LLMError):
    """The call would exceed a budget; nothing was sent."""

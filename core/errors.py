"""Typed errors of stockray.

The hierarchy decides retry, failover and what a user sees::

    StockrayError
    ├── ProviderError            a data provider call failed
    │   ├── RateLimited          the provider asked us to slow down (retry after `retry_after`)
    │   ├── Unavailable          connection refused, 5xx, outage
    │   ├── Timeout              no answer within the client timeout
    │   ├── AuthError            missing, invalid or revoked key (never retried)
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


class StockrayError(Exception):
    """Base of every error stockray raises on purpose."""


class ProviderError(StockrayError):
    """A data provider call failed; `provider` names which one."""

    retryable: bool = False
    failover: bool = False

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message

    def __reduce__(self):  # keep fields across Ray's pickling
        return (self.__class__._rebuild, (self.__dict__,))

    @classmethod
    def _rebuild(cls, state: dict) -> ProviderError:
        err = cls.__new__(cls)
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
        super().__init__(f"{endpoint}: {message}" if endpoint else message)
        self.message = message
        self.endpoint = endpoint
        self.retry_after = retry_after
        self.raw = raw  # the model's text, when its answer was the problem

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

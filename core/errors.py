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
        ├── LLMPermanent         400, 401/403, unknown model, policy, context too long
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
    """An LLM call failed."""


class LLMTransient(LLMError):
    """A retryable LLM failure (429, 5xx, timeout, connection)."""


class LLMPermanent(LLMError):
    """An LLM failure that retrying the same endpoint cannot fix."""


class BudgetExceeded(LLMError):
    """The call would exceed a budget; nothing was sent."""

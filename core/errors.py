"""Typed errors of stockray.

The hierarchy decides retry, failover and what a user sees::

    StockrayError
    ├── MigrationError           the schema migrations cannot be applied as found
    ├── ChatRefused              a chat request cannot be served: the API answers `status`, `code`
    │   ├── ChatNotFound         404: no such instrument or session (or another key's session)
    │   ├── IdempotencyConflict  409: the Idempotency-Key named a different request
    │   ├── TurnInProgress       409: the message is still being answered (`retry_after`)
    │   └── ChatFailed           503: the turn ended without an answer
    ├── ProviderError            a data provider call failed
    │   ├── RateLimited          the provider asked us to slow down (retry after `retry_after`)
    │   │   └── QuotaExhausted   a daily/rolling quota is spent until `reset_at` (no retry)
    │   ├── Unavailable          connection refused, 5xx, outage
    │   ├── Timeout              no answer within the client timeout
    │   ├── AuthError            missing, invalid or revoked key (never retried)
    │   ├── PlanLimit            the key's plan does not cover this request (never retried)
    │   ├── NotFound             unknown symbol or resource (never retried, no failover)
    │   └── BadPayload           malformed or truncated answer (never retried)
    └── LLMError                 an LLM call failed
        ├── LLMTransient         429, 5xx, timeouts: retry, then fail over
        ├── LLMPermanent         400, 401/403, unknown model, policy
        │   ├── ContextTooLong   the prompt exceeds the window: try a larger endpoint
        │   └── InvalidAnswer    the answer failed validation after one repair
        └── BudgetExceeded       the call would exceed a per-call or daily budget
            └── QuotaExceeded    an API key's daily chat quota is spent (until the UTC day ends)

Behaviour is read from each class's declared fields: `retryable` (the retrier tries the same
provider again) and `failover` (the router asks the next provider). Every error passes all its
constructor's arguments to the base constructor, so they are its `args`: pickling (Ray's,
across processes) rebuilds it as `cls(*args)` and restores its fields, with no `__reduce__`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.redact import scrub


class StockrayError(Exception):
    """Base of every error stockray raises on purpose."""


class MigrationError(StockrayError):
    """The migration files or the database's migration history are inconsistent."""


class ProviderError(StockrayError):
    """A data provider call failed; `provider` names which one.

    `retryable`: the same provider may answer if asked again. `failover`: another provider
    may serve the request, so the router asks the next one (all but `NotFound`).
    """

    retryable: bool = False
    failover: bool = True

    def __init__(self, provider: str, message: str, *fields: object) -> None:
        """`fields`: a subclass's further constructor arguments, kept in `args` for pickling."""
        message = scrub(message)  # at birth: nothing downstream can carry a key onwards
        super().__init__(provider, message, *fields)
        self.provider = provider
        self.message = message

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}"


class RateLimited(ProviderError):
    """The provider refused for rate; `retry_after` seconds is its hint (None when it gave none)."""

    retryable = True

    def __init__(self, provider: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(provider, message, retry_after)
        self.retry_after = retry_after


class QuotaExhausted(RateLimited):
    """A daily (or rolling) quota is spent: no retry before `reset_at`; fail over meanwhile."""

    retryable = False

    def __init__(self, provider: str, message: str, reset_at: datetime) -> None:
        # Its own arguments go to the base (RateLimited's would not rebuild it); the hint
        # RateLimited keeps is derived from `reset_at`.
        ProviderError.__init__(self, provider, message, reset_at)
        self.retry_after = max(0.0, (reset_at - datetime.now(UTC)).total_seconds())
        self.reset_at = reset_at


class Unavailable(ProviderError):
    """The provider could not be reached or answered 5xx."""

    retryable = True


class Timeout(ProviderError):
    """The provider did not answer within the client's timeout."""

    retryable = True


class AuthError(ProviderError):
    """The provider rejected our key, or none is configured: never retried, but another
    provider (with its own key) may serve the request."""


class PlanLimit(ProviderError):
    """The key's plan does not cover this request (a premium feature or endpoint, a demo
    key): permanent for this request, so never retried, but another provider may serve it."""


class NotFound(ProviderError):
    """The provider does not know the symbol or resource asked for: another provider will
    not know it either, so the router stops here."""

    failover = False


class BadPayload(ProviderError):
    """The provider's answer could not be parsed; `field` names where it broke. Never
    retried (the same provider would send the same), but another provider may serve."""

    def __init__(self, provider: str, message: str, field: str | None = None) -> None:
        super().__init__(provider, message, field)
        self.field = field
        if field is not None:
            self.message = f"{self.message} (field {field!r})"


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
        raw = raw if raw is None else scrub(raw)  # the model's text, when it was the problem
        super().__init__(message, endpoint, retry_after, raw)
        self.message = message
        self.endpoint = endpoint
        self.retry_after = retry_after
        self.raw = raw

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.message}" if self.endpoint else self.message


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


class QuotaExceeded(BudgetExceeded):
    """The key's daily chat quota cannot hold the call; nothing was sent. `retry_after` is
    the seconds until the UTC day rolls over."""


class ChatRefused(StockrayError):
    """A chat request that cannot be served: the API answers with the class's declared
    `status` and `code` (and `retry_after`, when set, as Retry-After)."""

    status: int = 400
    code: str = "chat_refused"
    retry_after: float | None = None

    def __init__(self, message: str, *fields: object) -> None:
        """`fields`: a subclass's further constructor arguments, kept in `args` for pickling."""
        super().__init__(message, *fields)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ChatNotFound(ChatRefused):
    """No such instrument or chat session, or the session belongs to another key."""

    status, code = 404, "not_found"


class IdempotencyConflict(ChatRefused):
    """The Idempotency-Key was used before for a different session or message."""

    status, code = 409, "idempotency_conflict"


class TurnInProgress(ChatRefused):
    """The message is still being answered by a concurrent request: retry soon."""

    status, code, retry_after = 409, "in_progress", 2.0


class ChatFailed(ChatRefused):
    """The turn ended without an answer; `code` says why (`llm_failed`, `chat_failed`)."""

    status = 503

    def __init__(self, message: str, code: str = "chat_failed") -> None:
        super().__init__(message, code)
        self.code = code

"""Redis when it answers, else the replica's own state, for the API's shared services."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

log = logging.getLogger("stockray.serve")
REDIS_RETRY_S = 5.0  # after a failed Redis call, how long the replica's own state serves
REDIS_ERRORS = (RedisError, OSError, TimeoutError)
T = TypeVar("T")


class RedisFallback:
    """Redis when it answers, else the replica's own state: after a failed call Redis is
    skipped for `retry_s`, so an outage costs one slow call per period, not one per request.
    """

    def __init__(self, retry_s: float = REDIS_RETRY_S) -> None:
        self.retry_s = retry_s
        self._skip_until = 0.0

    @property
    def up(self) -> bool:
        """False while Redis is being skipped after a failure."""
        return time.monotonic() >= self._skip_until

    async def call(
        self, shared: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]
    ) -> T:
        """`shared()` if Redis is up and it succeeds, else `local()`."""
        if self.up:
            try:
                return await shared()
            except REDIS_ERRORS as exc:
                log.warning(
                    "Redis did not answer (%s); replica-local limits and cache serve for %.0f s",
                    type(exc).__name__, self.retry_s,
                )  # fmt: skip
                self._skip_until = time.monotonic() + self.retry_s
        return await local()

"""What every route needs: settings, the replica's Postgres pool, Redis, cache and limits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import asyncpg
from fastapi import Depends, Request
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from configs.settings import Settings
from core.storage.db import create_pool
from serve_app.cache import ReadCache
from serve_app.progress import ProgressBoard
from serve_app.ratelimit import FailedAuthLimits, KeyRateLimits

log = logging.getLogger("stockray.serve")
POOL_SIZE = 8
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


class SharedKeyRateLimits(KeyRateLimits):
    """`KeyRateLimits` in Redis, and the replica's own while Redis does not answer."""

    def __init__(self, per_minute: int, redis: Any, fallback: RedisFallback) -> None:
        super().__init__(per_minute, redis)
        self._local = KeyRateLimits(per_minute)
        self._fallback = fallback

    async def check(self, key_id: str) -> float:
        """Admit one request of this key (0.0) or return the seconds until one would be."""
        shared = super().check
        return await self._fallback.call(lambda: shared(key_id), lambda: self._local.check(key_id))


class SharedFailedAuthLimits(FailedAuthLimits):
    """`FailedAuthLimits` counted in Redis, and by the replica while Redis does not answer."""

    def __init__(self, per_minute: int, redis: Any, fallback: RedisFallback) -> None:
        super().__init__(per_minute)
        self._counts = SharedKeyRateLimits(per_minute, redis, fallback)


class AppContext:
    """Settings plus a lazily created connection pool (one per replica).

    With `STOCKRAY_REDIS_URL` set, the read cache and the per-key limits live in Redis and
    are shared by every replica; otherwise, and while Redis does not answer, each replica
    keeps its own.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._pool_attempt: asyncio.Task[asyncpg.Pool] | None = None
        self._jobs: Any = None
        self.redis_fallback = RedisFallback()
        self.redis: Any = _redis_client(settings) if settings.redis_url is not None else None
        ttl, max_bytes = settings.api_cache_ttl_s, settings.api_cache_max_bytes
        rate, failures = settings.api_rate_limit, settings.api_auth_failures_per_minute
        self.cache = ReadCache(ttl, max_bytes, self.redis, self.redis_fallback)
        self.limits: KeyRateLimits = KeyRateLimits(rate)
        self.auth_failures: FailedAuthLimits = FailedAuthLimits(failures)
        if self.redis is not None:
            self.limits = SharedKeyRateLimits(rate, self.redis, self.redis_fallback)
            self.auth_failures = SharedFailedAuthLimits(failures, self.redis, self.redis_fallback)
        self.chat: Any = None  # the chat deployment's handle (Serve) or a local ChatService
        self.live: Any = None  # this replica's WebSocket fan-out (serve_app.live)
        self.progress = ProgressBoard()  # the latest `job.progress` of each run seen
        self.event_hooks: list[Callable[[dict[str, Any]], None]] = [
            self.cache.on_event,
            self.progress.on_event,
        ]

    async def pool(self) -> asyncpg.Pool:
        """The pool, created on first use. Requests arriving meanwhile share one attempt,
        and its failure: with Postgres down they all answer 503 at once, not one by one."""
        if self._pool is not None:
            return self._pool
        if self._pool_attempt is None or self._pool_attempt.done():
            self._pool_attempt = asyncio.get_running_loop().create_task(self._create_pool())
        return await asyncio.shield(self._pool_attempt)

    async def _create_pool(self) -> asyncpg.Pool:
        if self.settings.database_url is None:
            raise RuntimeError("STOCKRAY_DATABASE_URL is not set in this replica")
        self._pool = await create_pool(
            self.settings.database_url.get_secret_value(),
            min_size=1,
            max_size=POOL_SIZE,
            command_timeout_s=self.settings.db_command_timeout_s,
            acquire_timeout_s=self.settings.db_acquire_timeout_s,
            connect_timeout_s=self.settings.db_acquire_timeout_s,
        )
        return self._pool

    def jobs_client(self) -> Any:
        """The Ray Jobs API client, made once. Its constructor calls the dashboard, so use
        it from a thread (`asyncio.to_thread`), never on the event loop."""
        if self._jobs is None:
            from ray.job_submission import JobSubmissionClient

            self._jobs = JobSubmissionClient(self.settings.dashboard_url)
        return self._jobs

    def on_event(self, event: dict[str, Any]) -> None:
        """Called by the replica's event listener for every live event (cache invalidation)."""
        for hook in self.event_hooks:
            hook(event)

    async def close(self) -> None:
        """Close the pool and the Redis client, if they were made."""
        if self._pool_attempt is not None:
            self._pool_attempt.cancel()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self.redis is not None:
            await self.redis.aclose()


def _redis_client(settings: Settings) -> Any:
    # Short timeouts and one retry (a pooled connection Redis closed on restart): a Redis
    # that does not answer at once is treated as down, and the fallbacks serve.
    import redis.asyncio as redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    assert settings.redis_url is not None
    timeout = settings.redis_timeout_s
    return redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )


_replica_context: AppContext | None = None


def set_replica_context(ctx: AppContext) -> None:
    """Make `ctx` the context of this process's app (the Serve replica sets its own).

    Serve hosts a copy of the FastAPI app, so state set on the module's app object would
    not reach the requests; a process-wide default does.
    """
    global _replica_context
    _replica_context = ctx


def context(connection: HTTPConnection) -> AppContext:
    """The app's own context if it has one (tests), else the replica's."""
    ctx = getattr(connection.app.state, "context", None) or _replica_context
    if ctx is None:
        raise RuntimeError("no AppContext: the Serve replica has not started")
    return ctx


async def context_dependency(request: Request) -> AppContext:
    """FastAPI dependency for `context`: async, so FastAPI does not hand it to a worker
    thread on every request as it does a plain function (measured ~9% of replica time)."""
    return context(request)


Ctx = Annotated[AppContext, Depends(context_dependency)]

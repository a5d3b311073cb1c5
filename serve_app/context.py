"""What every route needs: settings, the replica's Postgres pool, Redis, cache and limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from configs.settings import Settings
from core.storage.db import create_pool
from serve_app.cache import ReadCache
from serve_app.progress import ProgressBoard
from serve_app.ratelimit import FailedAuthLimits, KeyLimits, key_limits
from serve_app.redis_fallback import RedisFallback

POOL_SIZE = 8


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
        # Redis or the replica's own, chosen here once for each service.
        self.cache = ReadCache(ttl, max_bytes, self.redis, self.redis_fallback)
        self.limits: KeyLimits = key_limits(rate, self.redis, self.redis_fallback)
        self.auth_failures = FailedAuthLimits(key_limits(failures, self.redis, self.redis_fallback))
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


def context(connection: HTTPConnection) -> AppContext:
    """The app's context (`app.state.context`: set by the Serve replica that built the app,
    or by a test hosting it)."""
    ctx = getattr(connection.app.state, "context", None)
    if ctx is None:
        raise RuntimeError("no AppContext: whoever hosts the app sets app.state.context")
    return ctx


async def context_dependency(request: Request) -> AppContext:
    """FastAPI dependency for `context`: async, so FastAPI does not hand it to a worker
    thread on every request as it does a plain function (measured ~9% of replica time)."""
    return context(request)


Ctx = Annotated[AppContext, Depends(context_dependency)]

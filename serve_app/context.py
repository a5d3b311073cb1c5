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
from serve_app.ratelimit import FailedAuthLimits, KeyRateLimits


class AppContext:
    """Settings plus a lazily created connection pool (one per replica).

    With `STOCKRAY_REDIS_URL` set, the read cache and the per-key limits live in Redis and
    are shared by every replica; otherwise each replica keeps its own.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self.redis: Any = None
        if settings.redis_url is not None:
            import redis.asyncio as redis

            self.redis = redis.from_url(settings.redis_url.get_secret_value())
        self._jobs: Any = None
        self.cache = ReadCache(settings.api_cache_ttl_s, self.redis)
        self.limits = KeyRateLimits(settings.api_rate_limit, self.redis)
        self.auth_failures = FailedAuthLimits(settings.api_auth_failures_per_minute, self.redis)
        self.chat: Any = None  # the chat deployment's handle (Serve) or a local ChatService
        self.live: Any = None  # this replica's WebSocket fan-out (serve_app.live)
        self.event_hooks: list[Callable[[dict[str, Any]], None]] = [self.cache.on_event]

    async def pool(self) -> asyncpg.Pool:
        """The pool, created on first use."""
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                if self.settings.database_url is None:
                    raise RuntimeError("STOCKRAY_DATABASE_URL is not set in this replica")
                dsn = self.settings.database_url.get_secret_value()
                self._pool = await create_pool(dsn, min_size=1, max_size=8)
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
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self.redis is not None:
            await self.redis.aclose()


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

"""The FastAPI ingress deployment: liveness and readiness now, the REST API as it grows."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI
from ray import serve

from configs.settings import Settings, load_settings
from core.storage.db import create_pool
from serve_app.errors import error_response, install_error_handlers

log = logging.getLogger("stockray.serve")
api = FastAPI(title="stockray", version="0.1.0", docs_url="/docs")
install_error_handlers(api)

CHECK_TIMEOUT_S = 3.0


@serve.deployment
@serve.ingress(api)
class Api:
    """HTTP ingress: every REST route lives on this replica class."""

    def __init__(self) -> None:
        self.settings: Settings = load_settings()
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        """The replica's Postgres pool, created on first use."""
        async with self._pool_lock:
            if self._pool is None:
                if self.settings.database_url is None:
                    raise RuntimeError("STOCKRAY_DATABASE_URL is not set in this replica")
                dsn = self.settings.database_url.get_secret_value()
                self._pool = await create_pool(dsn, min_size=1, max_size=8)
            return self._pool

    @api.get("/healthz", tags=["ops"])
    async def healthz(self) -> dict[str, str]:
        """Liveness: the replica answers."""
        return {"status": "ok"}

    @api.get("/readyz", tags=["ops"])
    async def readyz(self) -> Any:
        """Readiness: Postgres answers, and Redis too when configured."""
        checks = {"postgres": await self._check(self._check_postgres())}
        if self.settings.redis_url is not None:
            checks["redis"] = await self._check(self._check_redis())
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "checks": checks}
        return error_response(503, "not_ready", "a dependency is not ready", checks)

    async def _check(self, probe: Any) -> str:
        try:
            await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
        except Exception as exc:  # any failure means "not ready"; say which kind
            log.warning("readiness check failed: %s", type(exc).__name__)
            return f"error: {type(exc).__name__}"
        return "ok"

    async def _check_postgres(self) -> None:
        pool = await self.pool()
        await pool.fetchval("SELECT 1")

    async def _check_redis(self) -> None:
        import redis.asyncio as redis

        client = redis.from_url(self.settings.redis_url.get_secret_value())
        try:
            await client.ping()
        finally:
            await client.aclose()

    async def __del__(self) -> None:  # Serve awaits an async __del__ on graceful shutdown
        if self._pool is not None:
            await self._pool.close()


app = Api.bind()

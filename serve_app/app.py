"""The FastAPI ingress deployment: health, readiness and the REST API under `/api/v1`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI
from ray import serve

from configs.settings import load_settings
from serve_app import ops_routes, routes
from serve_app.context import AppContext, Ctx, set_replica_context
from serve_app.errors import error_response, install_error_handlers

log = logging.getLogger("stockray.serve")
CHECK_TIMEOUT_S = 3.0


def build_api() -> FastAPI:
    """The FastAPI app with every route; `app.state.context` is set by whoever hosts it."""
    app = FastAPI(title="stockray", version="0.1.0", docs_url="/docs")
    install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(ops_routes.router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the replica answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(ctx: Ctx) -> Any:
        """Readiness: Postgres answers, and Redis too when configured."""
        checks = {"postgres": await _check(_check_postgres(ctx))}
        if ctx.settings.redis_url is not None:
            checks["redis"] = await _check(_check_redis(ctx))
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "checks": checks}
        return error_response(503, "not_ready", "a dependency is not ready", checks)

    return app


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready"; say which kind
        log.warning("readiness check failed: %s", type(exc).__name__)
        return f"error: {type(exc).__name__}"
    return "ok"


async def _check_postgres(ctx: AppContext) -> None:
    pool = await ctx.pool()
    await pool.fetchval("SELECT 1")


async def _check_redis(ctx: AppContext) -> None:
    import redis.asyncio as redis

    client = redis.from_url(ctx.settings.redis_url.get_secret_value())
    try:
        await client.ping()
    finally:
        await client.aclose()


api = build_api()


@serve.deployment
@serve.ingress(api)
class Api:
    """HTTP ingress: the REST API on each replica, with the replica's own Postgres pool."""

    def __init__(self) -> None:
        self.context = AppContext(load_settings())
        set_replica_context(self.context)

    async def __del__(self) -> None:  # Serve awaits an async __del__ on graceful shutdown
        await self.context.close()


app = Api.bind()

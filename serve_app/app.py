"""The FastAPI ingress deployment: health, readiness and the REST API under `/api/v1`."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from ray import serve
from ray.serve.handle import DeploymentHandle

from configs.settings import Settings, load_settings
from core.logs import configure_logging
from core.storage import health
from serve_app import (
    chart_marks,
    chat,
    fundamentals,
    headers,
    live,
    metrics,
    metrics_view,
    ops_charts,
    ops_routes,
    overview,
    routes,
    subscriptions,
    web,
)
from serve_app.auth import presented_key
from serve_app.context import AppContext, Ctx
from serve_app.errors import (
    RETRY_AFTER_S,
    error_response,
    error_responses,
    install_error_handlers,
)
from serve_app.guard import BodyGuard
from serve_app.schemas import PROMETHEUS_TEXT, Health, Readiness
from serve_app.state_gauges import StateGauges

log = logging.getLogger("stockray.serve")
CHECK_TIMEOUT_S = 3.0


def build_api(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app with every route; `app.state.context` is set by whoever hosts it.

    `settings` (default: loaded from the environment) decide the CORS allowlist.
    """
    app = FastAPI(title="stockray", version="0.1.0", docs_url="/docs")
    install_error_handlers(app)
    settings = settings or load_settings()
    # Middleware added later wraps what came before: metrics outermost, then CORS (so its
    # headers reach even the guard's errors), then the body guard, then the routes.
    app.add_middleware(BodyGuard)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key"],
            expose_headers=["Retry-After"],
        )
    app.add_middleware(metrics.RequestMetrics)
    headers.install(app, settings.trusted_proxies)  # around everything, 500s included
    app.include_router(routes.router)
    app.include_router(fundamentals.router)
    app.include_router(chart_marks.router)
    app.include_router(overview.router)
    app.include_router(ops_routes.router)
    app.include_router(ops_charts.router)
    app.include_router(subscriptions.router)
    app.include_router(chat.router)
    app.include_router(live.router)
    app.include_router(web.router)

    @app.get("/healthz", tags=["ops"], response_model=Health)
    async def healthz() -> dict[str, str]:
        """Liveness: the replica answers."""
        return {"status": "ok"}

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,  # not PlainTextResponse: its errors are JSON
        responses={
            **PROMETHEUS_TEXT,
            **error_responses(401, 403, why={401: "no or wrong token", 403: "no token set"}),
        },
    )
    async def prometheus_metrics(request: Request, ctx: Ctx) -> Response:
        """Prometheus text: the API's, providers', jobs' and LLM's `stockray_*` metrics.

        Asks for `Authorization: Bearer $STOCKRAY_METRICS_TOKEN`: behind HAProxy every client
        is 127.0.0.1, so its address cannot tell who scrapes.
        """
        refused = _metrics_refused(ctx.settings, request)
        if refused is not None:
            return refused
        gauges = getattr(request.app.state, "state_gauges", None)
        if gauges is None:
            gauges = StateGauges(ctx, ctx.settings.metrics_refresh_s)
            request.app.state.state_gauges = gauges
        text = await metrics_view.render(await gauges.families())
        return Response(text, media_type=metrics_view.CONTENT_TYPE)

    @app.get(
        "/readyz",
        tags=["ops"],
        response_model=Readiness,
        responses=error_responses(503, why={503: "Postgres is not ready (`details`: checks)"}),
    )
    async def readyz(ctx: Ctx) -> Any:
        """Readiness: 200 `ready` when Postgres answers (and Redis, when configured); 200
        `degraded` when only Redis does not (the replica's own limits and cache serve, so it
        should keep its traffic); 503 when Postgres does not (no request could be served).
        """
        checks = {"postgres": await _check(_check_postgres(ctx))}
        if ctx.settings.redis_url is not None:
            checks["redis"] = await _check(_check_redis(ctx))
        if checks["postgres"] != "ok":
            retry = {"Retry-After": str(RETRY_AFTER_S)}
            return error_response(503, "not_ready", "Postgres is not ready", checks, retry)
        status = "ready" if all(v == "ok" for v in checks.values()) else "degraded"
        return {"status": status, "checks": checks}

    return app


def _metrics_refused(settings: Settings, request: Request) -> Response | None:
    token = settings.metrics_token
    if token is None:
        return error_response(403, "forbidden", "/metrics is off: set STOCKRAY_METRICS_TOKEN")
    presented = (presented_key(request) or "").encode()
    if not hmac.compare_digest(presented, token.get_secret_value().encode()):
        return error_response(
            401, "unauthorized", "/metrics needs its token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    return None


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready"; say which kind
        log.warning("readiness check failed: %s", type(exc).__name__)
        return f"error: {type(exc).__name__}"
    return "ok"


async def _check_postgres(ctx: AppContext) -> None:
    await health.ping(await ctx.pool())


async def _check_redis(ctx: AppContext) -> None:
    await ctx.redis.ping()  # the replica's own client (cache, limits), not a new connection


@serve.deployment
@serve.ingress()  # the app is built on each replica: `__serve_build_asgi_app__`
class Api:
    """HTTP + WebSocket ingress on each replica, with the replica's own Postgres pool.

    Chat answers come from the separate `Chat` deployment through its handle.
    """

    def __init__(self, chat_handle: DeploymentHandle) -> None:
        metrics.use_ray_metrics()
        settings = load_settings()
        configure_logging(settings)
        self.context = AppContext(settings)
        self.context.chat = chat_handle
        self._started = False

    def __serve_build_asgi_app__(self) -> FastAPI:
        """The app, built here on the replica (after `__init__`) with the settings read
        here; its routes find the replica's context on `app.state`."""
        api = build_api(self.context.settings)
        api.state.context = self.context
        return api

    async def _ensure_started(self) -> None:
        if not self._started:
            self._started = True
            await live.on_replica_start(self.context)

    async def check_health(self) -> None:
        """Serve's health check; also starts the replica's event listener on first call."""
        await self._ensure_started()

    async def __del__(self) -> None:  # Serve awaits an async __del__ on graceful shutdown
        await live.on_replica_stop(self.context)
        await self.context.close()


app = Api.bind(chat.Chat.bind())

"""API-key authentication: `Authorization: Bearer <key>` or `X-API-Key: <key>`.

Missing or bad key → 401; a key whose scope is too small → 403; a key over its request
rate → 429 with `Retry-After`. Keys are never logged.
"""

import math
from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.requests import HTTPConnection

from core.storage.api_keys import (
    KeyInfo,
    cached_verification,
    is_cached,
    key_prefix,
    verify_key,
)
from serve_app.context import AppContext, Ctx
from serve_app.errors import ApiError


def presented_key(request: HTTPConnection) -> str | None:
    """The key a request or socket presents (Bearer header or X-API-Key), if any."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


def require(scope: str) -> Callable[..., Awaitable[KeyInfo]]:
    """Dependency: the caller's key, which must allow `scope` (read < write < admin)."""

    async def dependency(request: Request, ctx: Ctx) -> KeyInfo:
        key = getattr(request.state, "api_key", None)  # a router and its route both ask
        if key is None:
            key = await authenticate(presented_key(request), ctx, client_host(request))
            request.state.api_key = key
        if not key.allows(scope):
            raise ApiError(403, "forbidden", f"this key's scope {key.scope!r} cannot {scope}")
        return key

    return dependency


def client_host(connection: HTTPConnection) -> str:
    """The client's address as the server saw it ("" when unknown)."""
    return connection.client.host if connection.client else ""


async def authenticate(presented: str | None, ctx: AppContext, client: str = "") -> KeyInfo:
    """The key `presented` stands for, counted against its rate limit; else ApiError 401/429.

    Failed attempts are counted per key prefix and per client address; one over its limit
    gets 429 at once, without a verification (`FailedAuthLimits`)."""
    if presented is None:
        raise ApiError(
            401, "unauthorized", "an API key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    buckets = [f"prefix:{key_prefix(presented)}", f"addr:{client}"]
    if not is_cached(presented) and (held := ctx.auth_failures.held(buckets)) > 0:
        retry_after = max(1, math.ceil(held))
        raise ApiError(
            429, "too_many_failures", "too many failed key attempts; try again later",
            {"retry_after_s": retry_after}, headers={"Retry-After": str(retry_after)},
        )  # fmt: skip
    key = cached_verification(presented)  # most requests: no connection taken at all
    if key is None:
        pool = await ctx.pool()
        async with pool.acquire() as conn:
            key = await verify_key(conn, presented)
    if key is None:
        await ctx.auth_failures.failed(buckets)
        raise ApiError(
            401, "unauthorized", "the API key is invalid or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    wait = await ctx.limits.check(str(key.id))
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise ApiError(
            429, "rate_limited", f"this key is over {ctx.limits.per_minute} requests per minute",
            {"retry_after_s": retry_after}, headers={"Retry-After": str(retry_after)},
        )  # fmt: skip
    return key

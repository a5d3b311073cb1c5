"""Nothing of a request body is read before its key is checked, and never more than a cap.

FastAPI reads and parses a body before any dependency runs, so a route's key check comes
too late to stop a client with no key from making a replica hold a large body. This ASGI
middleware runs first: for a request that carries a body under `/api/`, it checks the key
(the same `authenticate`, whose answer the route's dependency then reuses), then reads at
most `STOCKRAY_API_MAX_BODY_BYTES` (a declared `Content-Length` above it is refused before
reading anything), and hands the body on. Errors are in the API's one shape: 401/429 from
the key check, 413 `payload_too_large` for a body over the cap.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.auth import authenticate, client_host, presented_key
from serve_app.context import context
from serve_app.errors import ApiError, error_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyGuard:
    """ASGI middleware: key first, then at most the configured number of body bytes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in BODY_METHODS
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        try:
            body = await self._admit(scope, receive)
        except ApiError as err:
            response = error_response(err.status, err.code, err.message, err.details, err.headers)
            await response(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)

    async def _admit(self, scope: Scope, receive: Receive) -> bytes:
        connection = HTTPConnection(scope)
        ctx = context(connection)
        limit = ctx.settings.api_max_body_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise ApiError(400, "bad_request", "Content-Length is not a number")
            if int(declared) > limit:
                raise _too_large(limit)
        key = await authenticate(presented_key(connection), ctx, client_host(connection))
        scope.setdefault("state", {})["api_key"] = key  # the route's dependency reuses it
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ApiError(400, "bad_request", "the client went away mid-body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "payload_too_large", f"the request body is over {limit} bytes", {"limit": limit}
    )

"""The API's one error shape: `{"error": {"code", "message", "details"}}`.

What a route raises, and the status it is answered with:

    ApiError                      its own status and code
    HTTPException                 404 not_found, 405 method_not_allowed, else http_error
    RequestValidationError        422 invalid_request
    Postgres down, slow or gone   503 database_unavailable + Retry-After
      (asyncpg connection, shutdown and resource errors; OSError; TimeoutError: a query
      over STOCKRAY_DB_COMMAND_TIMEOUT_S or no free connection within
      STOCKRAY_DB_ACQUIRE_TIMEOUT_S)
    text Postgres cannot store    422 invalid_request (a NUL byte in a parameter)

Anything else is a bug and stays a 500. Each route declares the statuses it can give with
`error_responses(...)` (`KEYED` for the key check, `WITH_BODY` for the body guard), so
`/openapi.json` names this shape under each and the contract test holds answers to it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

log = logging.getLogger("stockray.serve")
RETRY_AFTER_S = 5  # what a 503 asks clients to wait: about one pool acquire timeout


class ErrorInfo(BaseModel):
    """What went wrong: a machine code, a message for people, optional details."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The API's one error shape."""

    error: ErrorInfo


ERRORS: dict[int, str] = {
    400: "bad request (e.g. a cursor this API did not issue, or a body cut short)",
    401: "missing, invalid or revoked API key",
    403: "the key's scope is too small",
    404: "no such resource, or it belongs to another key",
    409: "conflicts with what is stored or in progress",
    413: "the request body is over STOCKRAY_API_MAX_BODY_BYTES",
    422: "request validation failed",
    429: "the key is over its request rate, or too many failed key attempts; see Retry-After",
    503: "a dependency (Postgres, Ray) is not available; see Retry-After",
}
"""What each error status means, as the OpenAPI document describes it."""
RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}
}

KEYED = (401, 429, 503)
"""What a route behind an API key can answer before it runs: no or a bad key (401), a key
over its rate or too many failed attempts (429), Postgres not answering the key check (503)."""
WITH_BODY = (400, 413)
"""What the body guard answers for a request with a body: a bad `Content-Length` or a body
cut short (400), one over the cap (413)."""


def error_responses(*statuses: int, why: dict[int, str] | None = None) -> dict[int | str, Any]:
    """A route's `responses=`: the API's one error shape under each status it can give,
    described by `ERRORS` unless `why` says more; 429 and 503 declare `Retry-After`."""
    described = {**ERRORS, **(why or {})}
    return {
        status: {
            "model": ErrorBody,
            "description": described[status],
            **({"headers": RETRY_AFTER} if status in (429, 503) else {}),
        }
        for status in sorted(set(statuses))
    }


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> JSONResponse:
    """A JSON error in the API's shape."""
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


class ApiError(Exception):
    """An error a route answers with: status, machine code, message, optional details."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers


def unavailable(code: str, message: str) -> ApiError:
    """A 503 for a dependency that did not answer, asking the client to retry later."""
    return ApiError(503, code, message, headers={"Retry-After": str(RETRY_AFTER_S)})


# Postgres classes 08 (connection), 53 (resources: too many connections, disk full) and 57
# (operator intervention: shutdown, restart, query cancelled): the server, not the request.
_DB_DOWN = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError,
)
_BAD_TEXT = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)


def database_error(exc: Exception) -> ApiError | None:
    """The answer to a Postgres-side failure, or None if it is a bug (a 500)."""
    if isinstance(exc, _BAD_TEXT):
        message = "a parameter holds a character Postgres cannot store (NUL)"
        return ApiError(422, "invalid_request", message)
    closed = isinstance(exc, asyncpg.InterfaceError) and "clos" in str(exc)  # closed, closing
    # A connection reset while the server shuts down can leave asyncpg's protocol mid-state
    # ("cannot switch to state 15; another operation is in progress"): the server went away.
    broken = isinstance(exc, asyncpg.InternalClientError)
    if isinstance(exc, (*_DB_DOWN, OSError, TimeoutError)) or closed or broken:
        return unavailable("database_unavailable", "the database did not answer; retry later")
    return None


def uuid_or_404(text: str, what: str) -> uuid.UUID:
    """`text` as a UUID; an id that cannot be one names nothing here, so 404."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ApiError(404, "not_found", f"no {what} {text!r}") from None


def _allowed(request: Request) -> list[str]:
    # Every method some route offers for this path, not just the first matching route's.
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and getattr(route, "methods", None):
            methods |= route.methods
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Route our errors and FastAPI's own (404, 405, validation) through the one shape."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names only the first route's methods
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]
        return error_response(422, "invalid_request", "request validation failed", details)

    async def _database(_: Request, exc: Exception) -> JSONResponse:
        answer = database_error(exc)
        if answer is None:
            raise exc
        if answer.status == 503:  # no traceback: the cause is the server, named here
            log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return error_response(answer.status, answer.code, answer.message, headers=answer.headers)

    # InternalClientError is no InterfaceError: it needs its own registration, or a read
    # whose connection the server dropped mid-query ends as a bare 500.
    kinds = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
    for kind in (*kinds, OSError, TimeoutError):
        app.add_exception_handler(kind, _database)

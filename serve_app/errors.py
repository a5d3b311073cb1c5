"""The API's one error shape: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match


class ErrorInfo(BaseModel):
    """What went wrong: a machine code, a message for people, optional details."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The API's one error shape."""

    error: ErrorInfo


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in [
        (400, "bad request (e.g. a cursor this API did not issue)"),
        (401, "missing, invalid or revoked API key"),
        (403, "the key's scope is too small"),
        (404, "no such resource, or it belongs to another key"),
        (413, "the request body is over STOCKRAY_API_MAX_BODY_BYTES"),
        (422, "request validation failed"),
        (429, "the key is over its request rate, or too many failed key attempts; see Retry-After"),
        (503, "a dependency (Postgres, Ray) is not available"),
    ]
}
"""Declared on every route, so the OpenAPI document describes every answer the API gives."""


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

"""What every simulated provider shares: its spec, response helpers and key checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.types import ASGIApp

if TYPE_CHECKING:
    from sim.faults import FaultState
    from sim.world import SimWorld

JSON_TYPE = "application/json;charset=utf-8"


@dataclass(frozen=True)
class ProviderSpec:
    """A provider the sim can stand in for: its routes and its own fault answers."""

    name: str
    build: Callable[[SimWorld, FaultState], ASGIApp]  # the real API's routes
    limit_response: Callable[[str], Response]  # its own rate-limit answer, given a variant
    error_response: Callable[[int], Response]  # its own answer for a 5xx status


def json_response(data: object, status: int = 200, headers: dict | None = None) -> Response:
    """Compact UTF-8 JSON (Korean text unescaped, as the real services send it)."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=JSON_TYPE, headers=headers)


def html_error(status: int) -> Response:
    """The bare HTML page a CDN or proxy answers with when the service behind it fails."""
    reason = {
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(status, "Server Error")
    page = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(page, status_code=status, media_type="text/html")


def key_state(key: str | None) -> str:
    """Classify an API key: missing, invalid (it starts with "bad") or ok."""
    if not key:
        return "missing"
    return "invalid" if key.startswith("bad") else "ok"

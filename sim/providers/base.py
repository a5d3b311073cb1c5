"""What every simulated provider shares: its spec, response helpers and key checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.types import ASGIApp, Scope

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
    echo_key: Callable[[dict, str], bool] | None = None  # its own key-echo text (echo_key)


class Endpoint:
    """A route's handler: answers from the sim's `world`, under its provider's fault `state`."""

    def __init__(self, world: SimWorld, state: FaultState) -> None:
        self.world = world
        self.state = state


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


_KEY_PARAMS = ("apikey", "apiKey", "crtfc_key", "api_key")
_MESSAGE_PATHS = (
    ("error", "message"),
    ("message",),
    ("Information",),
    ("Note",),
    ("Error Message",),
    ("chart", "error", "description"),
)


def request_key(scope: Scope) -> str | None:
    """The API key a request carries (query parameter, X-Api-Key or Bearer token)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    for name in _KEY_PARAMS:
        if query.get(name) and query[name][0]:
            return query[name][0]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    if headers.get("x-api-key"):
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return None
    return auth.removeprefix("Bearer ").strip() or None


def is_error(status: int, data: object) -> bool:
    """Whether an answer is an error, HTTP 200 ones included (AV's notes, DART's statuses)."""
    if status >= 400:
        return True
    if not isinstance(data, dict):
        return False
    if data.keys() & {"Information", "Note", "Error Message"}:
        return True
    return data.get("status") not in (None, "000", "ok")


def plant_key(body: bytes, key: str, spec: ProviderSpec) -> bytes:
    """`body` with `key` in its message (the echo_key scenario): the provider's own wording
    where it has one, else the key appended to the message; HTML pages get it in a line."""
    if key.encode() in body:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body.replace(b"</body>", f"<p>{key}</p>\r\n</body>".encode(), 1)
    if not isinstance(data, dict) or not (spec.echo_key and spec.echo_key(data, key)):
        for path in _MESSAGE_PATHS:
            holder: object = data
            for part in path[:-1]:
                holder = holder.get(part) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and isinstance(holder.get(path[-1]), str):
                holder[path[-1]] = f"{holder[path[-1]]} ({key})"
                break
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

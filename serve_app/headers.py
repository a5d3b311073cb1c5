"""Security headers on every HTTP answer: an ASGI middleware, so errors and 404s get them too.

A header the route already set wins: the dashboard's pages carry their own full
Content-Security-Policy (`serve_app/web.py`), which allows their scripts and styles; every
other answer gets `frame-ancestors 'none'` only, so `/docs` can still load Swagger UI.
HSTS is sent only over TLS: the connection's own scheme, or `X-Forwarded-Proto: https`
from a trusted proxy (`STOCKRAY_TRUSTED_PROXIES`), since a client could send that header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
HSTS = "max-age=31536000; includeSubDomains"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SecurityHeaders:
    """ASGI middleware: add `HEADERS` (and HSTS over TLS) to every HTTP response."""

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(p, strict=False) for p in trusted_proxies
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = self.over_tls(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if tls:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def over_tls(self, scope: Scope) -> bool:
        """Whether the client reached us over TLS, directly or through a trusted proxy."""
        if scope.get("scheme") == "https":
            return True
        client = scope.get("client")
        if not client or not self._trusted(client[0]):
            return False
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-proto":
                # A proxy chain appends: the first hop is the one the client talked to.
                return value.decode("latin-1").split(",")[0].strip().lower() == "https"
        return False

    def _trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)


def install(app: Any, trusted_proxies: Iterable[str] = ()) -> None:
    """Wrap `app`'s whole middleware stack in `SecurityHeaders`.

    Outside Starlette's ServerErrorMiddleware, which `add_middleware` cannot reach: its
    plain 500 for an unhandled exception gets the headers too.
    """
    build = app.build_middleware_stack
    trusted = list(trusted_proxies)

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build(), trusted)

    app.build_middleware_stack = build_with_headers

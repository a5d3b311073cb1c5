"""Redirects: a provider's key (query string or header) never travels to another host.

Two real local servers: the "provider" redirects, and a second one on another port
records whatever reaches it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from core.errors import Unavailable
from core.providers import CLIENTS
from core.providers.http import fetch_json, same_site, status_error
from core.providers.rss import Feed
from tests.unit.providers.conftest import AAPL, SAMSUNG

KEY = "redirect-key-0123456789"


class Server:
    """A local HTTP server answering by `route(path) -> (status, headers, body)`; it keeps
    every request it saw (path with query, headers)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.route: Any = lambda path: (200, {}, {"ok": True})
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append((self.path, dict(self.headers)))
                status, headers, body = outer.route(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(data))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[Server, Server]]:
    provider, elsewhere = Server(), Server()
    # Every path moves to the other port, query string (and so any key in it) and all.
    provider.route = lambda path: (302, {"Location": elsewhere.url + path}, {})
    yield provider, elsewhere
    provider.close()
    elsewhere.close()


CALLS = {
    "yahoo": lambda c, start, end: c.fetch_bars(AAPL, start, end, "1d"),
    "alphavantage": lambda c, start, end: c.fetch_bars(AAPL, start, end, "1d"),
    "newsapi": lambda c, start, end: c.fetch_news(AAPL, start, end),
    "dart": lambda c, start, end: c.fetch_disclosures(SAMSUNG, start, end),
    "rss": lambda c, start, end: _one_feed(c).fetch_news(AAPL, start, end),
}


def _one_feed(client: Any) -> Any:
    client.feeds = (Feed(f"{client.base_url}/feed.xml"),)  # fetched at its own URL
    return client


def test_every_provider_has_a_redirect_case() -> None:
    assert set(CALLS) == set(CLIENTS)


@pytest.mark.parametrize("name", sorted(CLIENTS))
async def test_no_provider_follows_a_redirect_to_another_host(servers, name: str) -> None:
    provider, elsewhere = servers
    end = datetime.now(UTC)
    async with CLIENTS[name](provider.url, api_key=KEY) as client:
        with pytest.raises(Unavailable) as info:
            await CALLS[name](client, end - timedelta(days=5), end)
    assert "redirects to another host" in str(info.value) and KEY not in str(info.value)
    assert provider.seen and elsewhere.seen == []  # asked once, never followed


def generic(response: httpx.Response, payload: Any) -> Any:
    return status_error("demo", response)


async def test_a_redirect_within_the_host_is_followed_with_the_key(servers) -> None:
    provider, _ = servers
    provider.route = lambda path: (
        (307, {"Location": "/v2/data?moved=1"}, {}) if path.startswith("/v1") else (200, {}, [1])
    )
    # Even a caller's client set to follow every redirect follows only these.
    async with httpx.AsyncClient(follow_redirects=True) as http:
        answer = await fetch_json(
            http, "demo", f"{provider.url}/v1/data", error_for=generic, headers={"X-Api-Key": KEY}
        )
    assert answer == [1]
    assert [p for p, _ in provider.seen] == ["/v1/data", "/v2/data?moved=1"]
    assert provider.seen[1][1].get("X-Api-Key") == KEY


async def test_a_redirect_loop_stops(servers) -> None:
    provider, _ = servers
    provider.route = lambda path: (302, {"Location": path}, {})
    async with httpx.AsyncClient() as http:
        with pytest.raises(Unavailable, match="more than 5 redirects"):
            await fetch_json(http, "demo", f"{provider.url}/loop", error_for=generic)
    assert len(provider.seen) == 6


@pytest.mark.parametrize(
    ("origin", "target", "same"),
    [
        ("http://api.test/a", "http://api.test/b?x=1", True),
        ("http://api.test/a", "https://api.test/a", True),  # upgrade, default ports
        ("https://api.test/a", "http://api.test/a", False),  # downgrade
        ("http://api.test:8000/a", "http://api.test:8001/a", False),
        ("http://api.test/a", "http://evil.test/a", False),
        ("http://api.test/a", "http://api.test.evil.test/a", False),
    ],
)
def test_same_site(origin: str, target: str, same: bool) -> None:
    assert same_site(httpx.URL(origin), httpx.URL(target)) is same

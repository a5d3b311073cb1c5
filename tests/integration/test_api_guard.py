"""The API under abuse: keys are checked before any body is read, bodies are capped, and
failed key attempts are limited per prefix and per address. Against a real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from configs.settings import load_settings
from core.storage import api_keys
from core.storage.api_keys import create_key
from core.storage.db import connect, sync_instruments
from core.storage.migrations import migrate
from serve_app.app import build_api
from serve_app.context import AppContext

LIMIT = 4096
CHUNK = b"x" * 1024


class Body:
    """A chunked request body that counts how much of it the server pulled."""

    def __init__(self, chunks: int) -> None:
        self.chunks, self.pulled = chunks, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield CHUNK


@pytest.fixture
async def api(fresh_dsn: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    api_keys.clear_cache()
    settings = load_settings(
        database_url=fresh_dsn, api_max_body_bytes=LIMIT, api_auth_failures_per_minute=5
    )
    conn = await connect(fresh_dsn)
    await migrate(conn)
    await sync_instruments(conn, [i.to_instrument() for i in settings.watchlist.instruments])
    _, key = await create_key(conn, "writer", "write")
    await conn.close()
    app = build_api(settings)
    app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http, key
    await app.state.context.close()
    api_keys.clear_cache()


async def test_no_key_is_refused_before_any_of_the_body_is_read(api) -> None:
    http, _ = api
    body = Body(200_000)  # 200 MB if it were read
    answer = await http.post("/api/v1/subscriptions", content=body)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
    assert body.pulled == 0


async def test_a_body_over_the_cap_is_a_413_after_reading_at_most_the_cap(api) -> None:
    http, key = api
    auth = {"Authorization": f"Bearer {key}"}
    body = Body(1000)
    answer = await http.post("/api/v1/subscriptions", content=body, headers=auth)
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"] == {
        "code": "payload_too_large", "message": f"the request body is over {LIMIT} bytes",
        "details": {"limit": LIMIT},
    }  # fmt: skip
    assert body.pulled <= LIMIT // len(CHUNK) + 1
    declared = await http.post(
        "/api/v1/subscriptions", content=b"{" * (LIMIT + 1), headers=auth
    )  # Content-Length says it all: refused without reading
    assert declared.status_code == 413
    ok = await http.post(
        "/api/v1/subscriptions", json={"instruments": ["AAPL"], "events": ["bar"]}, headers=auth
    )
    assert ok.status_code == 201, ok.text  # a body under the cap reaches the route


async def test_failed_attempts_are_limited_per_prefix_and_address(api) -> None:
    http, key = api
    good = {"Authorization": f"Bearer {key}"}
    assert (await http.get("/api/v1/instruments", headers=good)).status_code == 200
    prefix = key[3:11]
    wrong = {"Authorization": f"Bearer sr_{prefix}_" + "A" * 43}
    codes = [(await http.get("/api/v1/instruments", headers=wrong)).status_code for _ in range(7)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    held = await http.get("/api/v1/instruments", headers=wrong)
    assert held.status_code == 429 and int(held.headers["Retry-After"]) >= 1
    assert held.json()["error"]["code"] == "too_many_failures"
    # the good key, already verified here, is not held back with its prefix and address
    assert (await http.get("/api/v1/instruments", headers=good)).status_code == 200
    # a body route is held the same way, still before reading the body
    body = Body(10)
    posted = await http.post("/api/v1/subscriptions", content=body, headers=wrong)
    assert posted.status_code == 429 and body.pulled == 0

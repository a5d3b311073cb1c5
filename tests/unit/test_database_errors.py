"""A Postgres-side failure raised in a route is answered in the one error shape: the server
gone (however asyncpg words it) is a 503 with Retry-After, never a bare 500."""

from __future__ import annotations

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serve_app.errors import install_error_handlers

GONE = [
    # Seen in CI: Postgres stopped while a read waited on a lock; releasing the connection
    # found asyncpg's protocol mid-operation.
    asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of it"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError(),
]


def _client(exc: Exception) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("exc", GONE, ids=lambda e: type(e).__name__)
def test_the_database_gone_is_a_503(exc: Exception) -> None:
    answer = _client(exc).get("/boom")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "database_unavailable"
    assert "retry-after" in answer.headers


def test_a_nul_in_a_parameter_is_a_422_and_a_bug_stays_a_500() -> None:
    nul = asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence")
    assert _client(nul).get("/boom").status_code == 422
    bug = asyncpg.exceptions.UndefinedColumnError('column "nope" does not exist')
    assert _client(bug).get("/boom").status_code == 500

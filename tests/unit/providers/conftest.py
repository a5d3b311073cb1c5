"""Shared pieces of the provider tests: recorded payloads, instruments, in-process transports."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.models import Instrument

PAYLOADS = Path(__file__).parent / "payloads"


def utc(*args: int) -> datetime:
    """`datetime(*args)` in UTC."""
    return datetime(*args, tzinfo=UTC)


AAPL = Instrument(
    id="AAPL",
    name="Apple Inc.",
    exchange="NASDAQ",
    currency="USD",
    timezone="America/New_York",
    symbols={"yahoo": "AAPL", "alphavantage": "AAPL", "newsapi": "Apple"},
)
SAMSUNG = Instrument(
    id="005930.KS",
    name="Samsung Electronics",
    exchange="KRX",
    currency="KRW",
    timezone="Asia/Seoul",
    symbols={"yahoo": "005930.KS", "newsapi": "삼성전자", "dart": "00126380"},
)


def payload(name: str) -> Any:
    """A recorded payload file, decoded."""
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def raw(name: str) -> bytes:
    """A recorded payload file's bytes, as the provider sent them."""
    return (PAYLOADS / name).read_bytes()


Handler = Callable[[httpx.Request], httpx.Response]


def transport_client(handler: Handler) -> httpx.AsyncClient:
    """An AsyncClient whose requests are answered in-process by `handler` (no sockets)."""
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def answer(name: str, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    """A handler answering every request with a recorded payload and status."""
    return lambda request: httpx.Response(status, content=raw(name), headers=headers)


class Recorder:
    """A handler answering from a queue of responses and keeping the requests it saw."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)


@pytest.fixture
def aapl() -> Instrument:
    return AAPL


@pytest.fixture
def samsung() -> Instrument:
    return SAMSUNG

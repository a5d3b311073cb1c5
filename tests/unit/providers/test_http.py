"""The shared request function: every transport failure and status to its typed error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from core.errors import (
    AuthError,
    BadPayload,
    NotFound,
    ProviderError,
    RateLimited,
    Timeout,
    Unavailable,
)
from core.providers.http import fetch_json, next_midnight, parse_retry_after, status_error
from tests.unit.providers.conftest import transport_client

URL = "http://provider.test/v1/data"
SECRET = "s3cr3t-key"


def generic(response: httpx.Response, payload: Any) -> ProviderError | None:
    return status_error("demo", response)


async def fetch(handler, error_for=generic) -> Any:
    async with transport_client(handler) as http:
        return await fetch_json(http, "demo", URL, params={"apikey": SECRET}, error_for=error_for)


def raising(exc_type: type[Exception]):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type(f"failed talking to {request.url}", request=request)

    return handler


class CutShort(httpx.AsyncByteStream):
    """A body that ends before its declared length, as a dropped connection leaves it."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"chart": {"result": [{"meta": {"curr'
        raise self.error


async def test_success_returns_decoded_json() -> None:
    body = {"ok": True, "name": "삼성전자"}
    assert await fetch(lambda r: httpx.Response(200, json=body)) == body


@pytest.mark.parametrize(
    ("exc_type", "expected"),
    [
        (httpx.ConnectError, Unavailable),
        (httpx.RemoteProtocolError, Unavailable),
        (httpx.ReadError, Unavailable),
        (httpx.WriteError, Unavailable),
        (httpx.ConnectTimeout, Timeout),
        (httpx.ReadTimeout, Timeout),
        (httpx.WriteTimeout, Timeout),
        (httpx.PoolTimeout, Timeout),
    ],
)
async def test_transport_failures_map_to_typed_errors(exc_type, expected) -> None:
    with pytest.raises(expected) as info:
        await fetch(raising(exc_type))
    assert info.value.provider == "demo"
    assert "/v1/data" in str(info.value)


async def test_error_messages_never_carry_the_query_string() -> None:
    # the handler's message names the full URL, as some transports do
    for exc_type in (httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError):
        with pytest.raises(ProviderError) as info:
            await fetch(raising(exc_type))
        assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, AuthError),
        (403, AuthError),
        (404, NotFound),
        (500, Unavailable),
        (502, Unavailable),
        (503, Unavailable),
        (504, Unavailable),
        (400, BadPayload),
        (422, BadPayload),
    ],
)
async def test_statuses_map_to_typed_errors(status: int, expected: type[ProviderError]) -> None:
    with pytest.raises(expected):
        await fetch(lambda r: httpx.Response(status, text="<html>nope</html>"))


async def test_429_with_retry_after_seconds() -> None:
    handler = lambda r: httpx.Response(429, text="Too Many Requests", headers={"Retry-After": "7"})  # noqa: E731
    with pytest.raises(RateLimited) as info:
        await fetch(handler)
    assert info.value.retry_after == 7.0
    assert info.value.retryable and info.value.failover


async def test_429_with_retry_after_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    handler = lambda r: httpx.Response(429, headers={"Retry-After": when})  # noqa: E731
    with pytest.raises(RateLimited) as info:
        await fetch(handler)
    assert 100 < info.value.retry_after <= 120


async def test_429_without_retry_after() -> None:
    with pytest.raises(RateLimited) as info:
        await fetch(lambda r: httpx.Response(429))
    assert info.value.retry_after is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("30", 30.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:26:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


async def test_non_json_body_is_bad_payload_naming_body() -> None:
    with pytest.raises(BadPayload) as info:
        await fetch(lambda r: httpx.Response(200, text="<html>maintenance</html>"))
    assert info.value.field == "body"
    assert info.value.provider == "demo"


async def test_json_cut_short_within_a_complete_response_is_bad_payload() -> None:
    with pytest.raises(BadPayload) as info:
        await fetch(lambda r: httpx.Response(200, content=b'{"chart": {"result": [{"me'))
    assert info.value.field == "body"


async def test_body_cut_short_by_the_connection_is_bad_payload() -> None:
    error = httpx.RemoteProtocolError("peer closed connection without sending complete body")
    with pytest.raises(BadPayload) as info:
        await fetch(lambda r: httpx.Response(200, stream=CutShort(error)))
    assert info.value.field == "body"
    assert "truncated" in info.value.message


async def test_body_that_stalls_is_a_timeout() -> None:
    with pytest.raises(Timeout):
        await fetch(lambda r: httpx.Response(200, stream=CutShort(httpx.ReadTimeout("slow"))))


async def test_connection_reset_mid_body_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        await fetch(lambda r: httpx.Response(200, stream=CutShort(httpx.ReadError("reset"))))


async def test_client_error_mapping_sees_the_decoded_body_first() -> None:
    def error_for(response: httpx.Response, payload: Any) -> ProviderError | None:
        if payload == {"Note": "slow down"}:
            return RateLimited("demo", payload["Note"], 60.0)
        return status_error("demo", response)

    with pytest.raises(RateLimited) as info:
        await fetch(lambda r: httpx.Response(200, json={"Note": "slow down"}), error_for)
    assert info.value.retry_after == 60.0


async def test_timeout_comes_from_the_caller() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={})

    async with transport_client(handler) as http:
        await fetch_json(http, "demo", URL, error_for=generic, timeout=httpx.Timeout(2.5))
    assert seen == [{"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}]


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # 23:30 in New York (EST) is 04:30 UTC: the next midnight is 30 minutes away
        (datetime(2024, 1, 10, 4, 30, tzinfo=UTC), "America/New_York", datetime(2024, 1, 10, 5, 0)),
        # summer time: New York midnight is 04:00 UTC
        (datetime(2024, 7, 1, 12, 0, tzinfo=UTC), "America/New_York", datetime(2024, 7, 2, 4, 0)),
        # Seoul is UTC+9: 15:00 UTC is already midnight of the next day there
        (datetime(2024, 1, 1, 14, 59, tzinfo=UTC), "Asia/Seoul", datetime(2024, 1, 1, 15, 0)),
        (datetime(2024, 1, 1, 15, 0, tzinfo=UTC), "Asia/Seoul", datetime(2024, 1, 2, 15, 0)),
    ],
)
def test_next_midnight(now: datetime, zone: str, expected: datetime) -> None:
    assert next_midnight(ZoneInfo(zone), now) == expected.replace(tzinfo=UTC)

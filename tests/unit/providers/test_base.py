"""The client surface: registry, capabilities, keys, connection pool, session timestamps."""

from __future__ import annotations

import asyncio
import pickle
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from core.errors import AuthError, BadPayload, RateLimited
from core.models import Capability, Instrument
from core.providers import (
    CLIENTS,
    AlphaVantageClient,
    DartClient,
    NewsApiClient,
    ProviderClient,
    RssClient,
    YahooClient,
)
from core.providers.newsapi import ResultCapReached
from core.providers.sessions import session_open, trading_date
from tests.unit.providers.conftest import AAPL, SAMSUNG, Recorder, raw, transport_client

START, END = datetime(2024, 2, 5, tzinfo=UTC), datetime(2024, 2, 14, tzinfo=UTC)


def test_registry_names_every_provider_of_the_config() -> None:
    expected = {
        "yahoo": YahooClient,
        "alphavantage": AlphaVantageClient,
        "newsapi": NewsApiClient,
        "dart": DartClient,
        "rss": RssClient,
    }
    assert dict(CLIENTS) == expected
    for name, cls in CLIENTS.items():
        assert cls.name == name
        assert isinstance(cls("http://x.test"), ProviderClient)


def test_capabilities_match_the_failover_table() -> None:
    served = {name: cls.capabilities for name, cls in CLIENTS.items()}
    assert served == {
        "yahoo": {Capability.PRICES},
        "alphavantage": {Capability.PRICES, Capability.NEWS, Capability.FUNDAMENTALS},
        "newsapi": {Capability.NEWS},
        "dart": {Capability.DISCLOSURES, Capability.FUNDAMENTALS},
        "rss": {Capability.NEWS},
    }


def test_intervals_and_history_are_queryable() -> None:
    assert "1d" in YahooClient.INTERVALS and "5m" in YahooClient.INTERVALS
    assert AlphaVantageClient.INTERVALS == ("1d",)
    assert YahooClient.max_history("1d") is None
    assert YahooClient.max_history("5m") == timedelta(days=60)
    assert NewsApiClient.max_history() == timedelta(days=30)
    assert DartClient.max_history() is None


@pytest.mark.parametrize(
    ("cls", "call"),
    [
        (YahooClient, lambda c: c.fetch_news(AAPL, START, END)),
        (YahooClient, lambda c: c.fetch_disclosures(AAPL, START, END)),
        (NewsApiClient, lambda c: c.fetch_bars(AAPL, START, END)),
        (DartClient, lambda c: c.fetch_news(SAMSUNG, START, END)),
        (AlphaVantageClient, lambda c: c.fetch_disclosures(AAPL, START, END)),
    ],
)
async def test_unsupported_calls_raise_not_implemented(cls, call) -> None:
    client = cls("http://x.test", api_key="K", http=transport_client(Recorder()))
    with pytest.raises(NotImplementedError, match=cls.name):
        await call(client)


@pytest.mark.parametrize(
    ("cls", "call"),
    [
        (AlphaVantageClient, lambda c: c.fetch_bars(AAPL, START, END)),
        (AlphaVantageClient, lambda c: c.fetch_news(AAPL, START, END)),
        (NewsApiClient, lambda c: c.fetch_news(AAPL, START, END)),
        (DartClient, lambda c: c.fetch_disclosures(SAMSUNG, START, END)),
    ],
)
async def test_missing_key_is_auth_error_on_first_call_without_a_request(cls, call) -> None:
    recorder = Recorder()
    for key in (None, ""):
        client = cls("http://x.test", api_key=key, http=transport_client(recorder))
        assert cls.needs_key
        with pytest.raises(AuthError, match=f"STOCKRAY_PROVIDER_KEYS__{cls.name.upper()}"):
            await call(client)
    assert recorder.requests == []


def test_yahoo_needs_no_key() -> None:
    assert not YahooClient.needs_key


def test_repr_never_shows_the_key() -> None:
    assert "SECRET" not in repr(DartClient("http://x.test", api_key="SECRET"))


async def test_construction_is_lazy_and_aclose_closes_the_own_pool() -> None:
    client = YahooClient("http://x.test/", timeout_s=3)
    assert client._http is None  # nothing built until the first request
    http = client._client()
    assert client._client() is http
    assert http.timeout.read == 3
    await client.aclose()
    assert http.is_closed
    await client.aclose()  # idempotent


async def test_a_supplied_http_client_is_not_closed() -> None:
    http = transport_client(Recorder())
    await YahooClient("http://x.test", http=http).aclose()
    assert not http.is_closed
    await http.aclose()


async def test_concurrent_calls_share_one_client() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=raw("yahoo_chart_aapl_1d.json"))

    client = YahooClient("http://x.test", http=transport_client(handler))
    results = await asyncio.gather(*(client.fetch_bars(AAPL, START, END) for _ in range(20)))
    assert len({len(r.bars) for r in results}) == 1
    await client.aclose()


def test_provider_errors_survive_pickling() -> None:
    # Ray pickles errors across processes; subclasses and extra fields must survive
    for error in (
        RateLimited("newsapi", "slow", 3.0),
        BadPayload("yahoo", "missing", "chart.result"),
        ResultCapReached("newsapi", "cap"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and copy.__dict__ == error.__dict__


@pytest.mark.parametrize(
    ("instrument", "day", "expected"),
    [
        (AAPL, date(2024, 2, 9), datetime(2024, 2, 9, 14, 30, tzinfo=UTC)),  # EST
        (AAPL, date(2024, 7, 1), datetime(2024, 7, 1, 13, 30, tzinfo=UTC)),  # EDT
        (SAMSUNG, date(2024, 7, 1), datetime(2024, 7, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_session_open(instrument: Instrument, day: date, expected: datetime) -> None:
    assert session_open(instrument, day) == expected
    assert trading_date(instrument, expected) == day

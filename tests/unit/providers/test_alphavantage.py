"""Alpha Vantage: daily bars and news from recorded answers, and its HTTP-200 error bodies."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import httpx
import pytest

from core.errors import AuthError, BadPayload, NotFound, RateLimited, Unavailable
from core.fingerprint import article_fingerprint
from core.providers.alphavantage import AlphaVantageClient, av_error, parse_daily, parse_news
from core.providers.yahoo import parse_chart
from tests.unit.providers.conftest import (
    AAPL,
    SAMSUNG,
    Recorder,
    answer,
    payload,
    raw,
    transport_client,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


FEB_5, FEB_14 = utc(2024, 2, 5), utc(2024, 2, 14)


def test_daily_bars_oldest_first_at_the_session_open() -> None:
    series = parse_daily(payload("av_daily_aapl.json"), AAPL, FEB_5, FEB_14)
    assert [bar.ts for bar in series.bars] == [
        utc(2024, 2, d, 14, 30) for d in (5, 6, 7, 8, 9, 12, 13)
    ]
    first = series.bars[0]
    assert (first.open, first.high, first.low, first.close) == (188.15, 189.25, 185.84, 187.68)
    assert first.volume == 69668820 and isinstance(first.volume, int)
    assert first.adj_close is None  # TIME_SERIES_DAILY carries no adjusted close
    assert {bar.provider for bar in series.bars} == {"alphavantage"}
    assert series.actions == ()
    assert not series.split_adjusted  # TIME_SERIES_DAILY is as traded


def test_same_trading_day_has_the_same_ts_as_yahoo() -> None:
    av = parse_daily(payload("av_daily_aapl.json"), AAPL, FEB_5, FEB_14)
    yahoo = parse_chart(payload("yahoo_chart_aapl_1d.json"), AAPL, "1d", FEB_5, FEB_14)
    assert {bar.ts for bar in yahoo.bars} <= {bar.ts for bar in av.bars}


def test_krx_daily_bar_is_stamped_at_nine_seoul() -> None:
    doc = {"Meta Data": {"5. Time Zone": "Asia/Seoul"}, "Time Series (Daily)": {
        "2018-05-04": {"1. open": "53000.0000", "2. high": "53900.0000", "3. low": "51800.0000",
                       "4. close": "51900.0000", "5. volume": "39565391"}}}  # fmt: skip
    (bar,) = parse_daily(doc, SAMSUNG, utc(2018, 5, 1), utc(2018, 5, 10)).bars
    yahoo = parse_chart(
        payload("yahoo_chart_005930_split.json"), SAMSUNG, "1d", utc(2018, 5, 4), utc(2018, 5, 5)
    )
    assert bar.ts == utc(2018, 5, 4, 0, 0) == yahoo.bars[0].ts


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("Time Series (Daily)"), "Time Series (Daily)"),
        (lambda d: d["Time Series (Daily)"]["2024-02-09"].pop("4. close"), "2024-02-09.4. close"),
        (lambda d: d["Time Series (Daily)"]["2024-02-09"].update({"2. high": "-"}), "2. high"),
        (lambda d: d["Time Series (Daily)"].update({"09/02/2024": {}}), "09/02/2024"),
    ],
)
def test_malformed_daily_is_bad_payload(mutate, field: str) -> None:
    doc = copy.deepcopy(payload("av_daily_aapl.json"))
    mutate(doc)
    with pytest.raises(BadPayload) as info:
        parse_daily(doc, AAPL, FEB_5, FEB_14)
    assert field in info.value.field


def test_news_dedupes_tracking_variants_and_keeps_the_window() -> None:
    articles = parse_news(payload("av_news_aapl.json"), AAPL, utc(2024, 2, 1), FEB_14)
    # the two Benzinga copies differ in www., utm_* and case only; the January story is outside
    assert [a.title for a in articles] == [
        "Apple Shares Slip as iPhone Demand in China Cools",
        "Apple Declares Quarterly Dividend of $0.24 per Share",
    ]
    first = articles[0]
    assert first.published_at == utc(2024, 2, 12, 15, 30)
    assert first.fingerprint == article_fingerprint(first.url, first.title)
    assert (first.provider, first.language, first.source) == ("alphavantage", "en", "Benzinga")
    assert first.instrument_ids == ("AAPL",)
    assert first.summary.startswith("Apple Inc. shares traded lower")


def test_news_empty_summary_is_none_and_empty_feed_is_empty() -> None:
    (vision,) = parse_news(payload("av_news_aapl.json"), AAPL, utc(2024, 1, 30), utc(2024, 1, 31))
    assert vision.summary is None
    assert parse_news(payload("av_news_empty.json"), AAPL, FEB_5, FEB_14) == []


def test_news_with_unreadable_time_is_bad_payload() -> None:
    doc = copy.deepcopy(payload("av_news_aapl.json"))
    doc["feed"][2]["time_published"] = "2024-02-09 12:05"
    with pytest.raises(BadPayload) as info:
        parse_news(doc, AAPL, FEB_5, FEB_14)
    assert info.value.field == "feed[2].time_published"


@pytest.mark.parametrize(
    ("name", "expected", "retry_after"),
    [
        ("av_error_rate_limit_information.json", RateLimited, None),
        ("av_error_rate_limit_note.json", RateLimited, 60.0),
        ("av_error_burst_information.json", RateLimited, 1.0),
        ("av_error_premium.json", AuthError, None),
        ("av_error_invalid_call.json", NotFound, None),
        ("av_error_apikey_invalid.json", AuthError, None),
        ("av_error_apikey_information.json", AuthError, None),
        ("av_error_news_invalid_inputs.json", NotFound, None),
    ],
)
def test_http_200_error_bodies(name: str, expected: type, retry_after: float | None) -> None:
    error = av_error(httpx.Response(200, content=raw(name)), payload(name))
    assert type(error) is expected
    assert error.provider == "alphavantage"
    if expected is RateLimited:
        assert error.retry_after == retry_after


def test_error_mapping_passes_data_and_maps_statuses() -> None:
    assert av_error(httpx.Response(200), payload("av_daily_aapl.json")) is None
    assert av_error(httpx.Response(200), payload("av_news_empty.json")) is None
    assert isinstance(av_error(httpx.Response(502, text="Bad Gateway"), None), Unavailable)


async def test_client_requests_daily_series_with_key() -> None:
    recorder = Recorder(httpx.Response(200, content=raw("av_daily_aapl.json")))
    client = AlphaVantageClient("http://av.test", api_key="K", http=transport_client(recorder))
    series = await client.fetch_bars(AAPL, FEB_5, FEB_14)
    assert len(series.bars) == 7
    (request,) = recorder.requests
    assert request.url.path == "/query"
    assert dict(request.url.params) == {
        "function": "TIME_SERIES_DAILY",
        "symbol": "AAPL",
        "outputsize": "full",
        "apikey": "K",
    }


async def test_client_requests_news_in_utc_minutes() -> None:
    recorder = Recorder(httpx.Response(200, content=raw("av_news_aapl.json")))
    client = AlphaVantageClient("http://av.test", api_key="K", http=transport_client(recorder))
    articles = await client.fetch_news(AAPL, utc(2024, 2, 1), FEB_14, limit=1)
    assert len(articles) == 1
    params = dict(recorder.requests[0].url.params)
    assert params["function"] == "NEWS_SENTIMENT"
    assert params["tickers"] == "AAPL"
    assert (params["time_from"], params["time_to"]) == ("20240201T0000", "20240214T0000")
    assert params["limit"] == "1"


async def test_client_raises_rate_limit_sent_as_http_200() -> None:
    http = transport_client(answer("av_error_rate_limit_note.json"))
    client = AlphaVantageClient("http://av.test", api_key="K", http=http)
    with pytest.raises(RateLimited):
        await client.fetch_bars(AAPL, FEB_5, FEB_14)


async def test_client_serves_daily_only() -> None:
    client = AlphaVantageClient("http://av.test", api_key="K", http=transport_client(Recorder()))
    with pytest.raises(ValueError, match="interval"):
        await client.fetch_bars(AAPL, FEB_5, FEB_14, interval="1h")


def test_retry_after_header_beats_the_text_hint() -> None:
    name = "av_error_rate_limit_note.json"
    response = httpx.Response(429, content=raw(name), headers={"Retry-After": "12"})
    assert av_error(response, payload(name)).retry_after == 12.0

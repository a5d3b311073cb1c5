"""Alpha Vantage: daily bars and news from recorded answers, and its HTTP-200 error bodies."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from core.errors import (
    AuthError,
    BadPayload,
    NotFound,
    PlanLimit,
    QuotaExhausted,
    RateLimited,
    Unavailable,
)
from core.fingerprint import article_fingerprint
from core.models import CorporateAction, Instrument
from core.providers.alphavantage import (
    AlphaVantageClient,
    av_error,
    parse_daily,
    parse_news,
    plan_reach,
)
from core.providers.yahoo import parse_chart
from tests.unit.providers.conftest import (
    AAPL,
    SAMSUNG,
    Recorder,
    answer,
    payload,
    raw,
    transport_client,
    utc,
)

FEB_5, FEB_14 = utc(2024, 2, 5), utc(2024, 2, 14)


def test_daily_bars_oldest_first_at_the_session_open() -> None:
    series = parse_daily(payload("av_daily_aapl.json"), AAPL, FEB_5, FEB_14)
    assert [bar.ts for bar in series.bars] == [
        utc(2024, 2, d, 14, 30) for d in (5, 6, 7, 8, 9, 12, 13)
    ]
    first = series.bars[0]
    assert (first.open, first.high, first.low, first.close) == (188.15, 189.25, 185.84, 187.68)
    assert first.volume == 69668820 and isinstance(first.volume, int)
    assert {bar.provider for bar in series.bars} == {"alphavantage"}
    assert not any(bar.partial for bar in series.bars)
    assert series.actions == ()  # TIME_SERIES_DAILY shows no splits or dividends


NVDA = Instrument("NVDA", "NVIDIA", "NASDAQ", "USD", "America/New_York", {"alphavantage": "NVDA"})


def test_adjusted_series_gives_bars_as_traded_and_the_actions_it_shows() -> None:
    series = parse_daily(
        payload("av_daily_adjusted_nvda_split.json"), NVDA, utc(2024, 6, 1), utc(2024, 6, 30)
    )
    before, split_day, after = series.bars
    assert before.close == 1208.88 and before.volume == 41238580  # as printed, pre-split
    assert (split_day.open, split_day.close, after.volume) == (120.37, 121.79, 222551184)
    assert series.actions == (
        CorporateAction("NVDA", "split", date(2024, 6, 10), 10.0, None, "alphavantage"),
        CorporateAction("NVDA", "dividend", date(2024, 6, 11), None, 0.01, "alphavantage"),
    )


def test_adjusted_actions_outside_the_window_are_left_out() -> None:
    series = parse_daily(
        payload("av_daily_adjusted_nvda_split.json"), NVDA, utc(2024, 6, 11), utc(2024, 6, 30)
    )
    assert [a.kind for a in series.actions] == ["dividend"] and len(series.bars) == 1


def test_empty_object_is_no_data() -> None:
    series = parse_daily(payload("av_daily_empty.json"), AAPL, FEB_5, FEB_14)
    assert (series.bars, series.actions, series.instrument_id) == ((), (), "AAPL")
    assert av_error(httpx.Response(200, content=b"{}"), {}) is None


def test_todays_bar_is_partial_until_the_close() -> None:
    doc = payload("av_daily_aapl.json")
    as_of = utc(2024, 2, 13, 18)  # 13:00 in New York: the 13th is still trading
    series = parse_daily(doc, AAPL, FEB_5, FEB_14, as_of=as_of)
    assert [b.ts.day for b in series.bars if b.partial] == [13]


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
        ("av_error_rate_limit_note.json", RateLimited, 60.0),
        ("av_error_burst_information.json", RateLimited, 1.0),
        ("av_error_premium.json", PlanLimit, None),
        ("av_error_premium_feature.json", PlanLimit, None),
        ("av_error_demo_key.json", PlanLimit, None),
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
    if expected is PlanLimit:  # another provider may serve what this key cannot
        assert error.failover and not error.retryable
    if expected is RateLimited:
        assert error.retry_after == retry_after and error.retryable


@pytest.mark.parametrize(
    "name", ["av_error_rate_limit_information.json", "av_error_daily_quota_key.json"]
)
def test_daily_notice_is_quota_until_midnight_in_new_york(name: str) -> None:
    before = datetime.now(UTC)
    error = av_error(httpx.Response(200, content=raw(name)), payload(name))
    assert type(error) is QuotaExhausted and not error.retryable
    local = error.reset_at.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (0, 0)
    assert timedelta(0) < error.reset_at - before <= timedelta(hours=24)
    assert error.retry_after == pytest.approx((error.reset_at - before).total_seconds(), abs=5)
    assert "AB12CD34EF56GH78" not in str(error)  # the key it echoes is scrubbed at birth


def test_error_mapping_passes_data_and_maps_statuses() -> None:
    assert av_error(httpx.Response(200), payload("av_daily_aapl.json")) is None
    assert av_error(httpx.Response(200), payload("av_news_empty.json")) is None
    assert isinstance(av_error(httpx.Response(502, text="Bad Gateway"), None), Unavailable)


async def test_premium_client_requests_the_full_adjusted_series() -> None:
    recorder = Recorder(httpx.Response(200, content=raw("av_daily_aapl.json")))
    http = transport_client(recorder)
    client = AlphaVantageClient("http://av.test", api_key="K", http=http, plan="premium")
    series = await client.fetch_bars(AAPL, FEB_5, FEB_14)
    assert len(series.bars) == 7
    (request,) = recorder.requests
    assert request.url.path == "/query"
    assert dict(request.url.params) == {
        "function": "TIME_SERIES_DAILY_ADJUSTED",
        "symbol": "AAPL",
        "outputsize": "full",
        "apikey": "K",
    }


async def test_free_client_asks_compact_within_the_latest_sessions() -> None:
    recorder = Recorder(httpx.Response(200, content=raw("av_daily_empty.json")))
    client = AlphaVantageClient("http://av.test", api_key="K", http=transport_client(recorder))
    assert client.plan == "free"
    now = datetime.now(UTC)
    series = await client.fetch_bars(AAPL, now - timedelta(days=120), now)
    assert series.bars == ()
    params = dict(recorder.requests[0].url.params)
    assert (params["function"], params["outputsize"]) == ("TIME_SERIES_DAILY", "compact")


async def test_free_client_refuses_older_windows_without_a_request() -> None:
    recorder = Recorder()
    client = AlphaVantageClient("http://av.test", api_key="K", http=transport_client(recorder))
    with pytest.raises(PlanLimit, match="latest 100 sessions") as info:
        await client.fetch_bars(AAPL, FEB_5, FEB_14)
    assert info.value.failover and not info.value.retryable
    assert recorder.requests == []


def test_plan_reach_counts_one_hundred_weekdays() -> None:
    now = utc(2024, 6, 14, 21)  # a Friday after the close
    reach = plan_reach(AAPL, 100, now)
    # 100 weekdays ending Friday 2024-06-14 start on Monday 2024-01-29; the window may start
    # any time after the open of the weekday before (Friday 2024-01-26).
    assert reach == utc(2024, 1, 26, 14, 30)


def test_unknown_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="gold"):
        AlphaVantageClient("http://av.test", api_key="K", plan="gold")


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
    client = AlphaVantageClient("http://av.test", api_key="K", http=http, plan="premium")
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

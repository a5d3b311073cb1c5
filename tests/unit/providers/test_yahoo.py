"""Yahoo chart API: parsing recorded answers, its error bodies, and the request it sends."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import httpx
import pytest

from core.errors import AuthError, BadPayload, NotFound, RateLimited, Unavailable
from core.models import CorporateAction
from core.providers.yahoo import YahooClient, chart_error, parse_chart
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


def test_daily_bars_are_stamped_at_the_session_open_in_utc() -> None:
    series = parse_chart(payload("yahoo_chart_aapl_1d.json"), AAPL, "1d", FEB_5, FEB_14)
    days = [bar.ts for bar in series.bars]
    # 02-02 is outside the window, 02-12 is an all-null row; 09:30 New York is 14:30 UTC.
    assert days == [utc(2024, 2, d, 14, 30) for d in (5, 6, 7, 8, 9, 13)]
    assert all(bar.ts.tzinfo is UTC for bar in series.bars)
    assert {bar.provider for bar in series.bars} == {"yahoo"}
    assert {bar.interval for bar in series.bars} == {"1d"}
    assert (series.currency, series.timezone) == ("USD", "America/New_York")


def test_daily_bar_is_as_traded_and_rounded_to_the_price_hint() -> None:
    series = parse_chart(payload("yahoo_chart_aapl_1d.json"), AAPL, "1d", FEB_5, FEB_14)
    feb5 = series.bars[0]
    assert feb5.close == 187.68  # 187.67999267578125 in the answer: float32 noise, priceHint 2
    assert feb5.volume == 69668800 and isinstance(feb5.volume, int)
    assert not hasattr(feb5, "adj_close")  # adjusted series are derived from the actions


def test_partially_null_row_keeps_its_nulls() -> None:
    series = parse_chart(payload("yahoo_chart_aapl_1d.json"), AAPL, "1d", FEB_5, FEB_14)
    live = series.bars[-1]  # Yahoo stamped the live bar 16:00:01 New York; re-stamped to the open
    assert live.ts == utc(2024, 2, 13, 14, 30)
    assert live.open is None
    assert live.close == pytest.approx(185.04, abs=1e-4)
    assert live.volume == 56529529


def test_dividend_event_becomes_a_corporate_action() -> None:
    series = parse_chart(payload("yahoo_chart_aapl_1d.json"), AAPL, "1d", FEB_5, FEB_14)
    (dividend,) = series.actions
    assert dividend.kind == "dividend"
    assert dividend.ex_date == date(2024, 2, 9)
    assert dividend.amount == pytest.approx(0.24)
    assert dividend.ratio is None
    assert dividend.provider == "yahoo"


def test_split_and_halt_on_krx() -> None:
    start, end = utc(2018, 4, 25), utc(2018, 5, 10)
    series = parse_chart(payload("yahoo_chart_005930_split.json"), SAMSUNG, "1d", start, end)
    # The four null rows of the trading halt before the 50:1 split are dropped.
    assert [bar.ts.date() for bar in series.bars] == [
        date(2018, 4, 25), date(2018, 4, 26), date(2018, 4, 27),
        date(2018, 5, 4), date(2018, 5, 8), date(2018, 5, 9),
    ]  # fmt: skip
    assert all(bar.ts.time().hour == 0 for bar in series.bars)  # 09:00 Seoul is 00:00 UTC
    (split,) = series.actions
    assert (split.kind, split.ex_date, split.ratio, split.amount) == (
        "split", date(2018, 5, 4), 50.0, None,
    )  # fmt: skip
    assert series.currency == "KRW"
    # Yahoo sent 49900 and 14,983,500 shares for 04-25 (today's share units); as traded
    # before the 50:1 split that was 2,495,000 won and 299,670 shares. From 05-04 on, as sent.
    before, on = series.bars[0], series.bars[3]
    assert (before.close, before.volume) == (2_495_000.0, 299_670)
    assert (on.close, on.volume) == (51_900.0, 39_565_391)


def test_later_split_multiplies_older_bars_back() -> None:
    # A 2:1 split after the window (from a second request) is in every bar of the window.
    later = CorporateAction("005930.KS", "split", date(2020, 1, 2), 2.0, None, "yahoo")
    start, end = utc(2018, 5, 4), utc(2018, 5, 10)
    doc = payload("yahoo_chart_005930_split.json")
    series = parse_chart(doc, SAMSUNG, "1d", start, end, later_splits=[later])
    assert [b.close for b in series.bars] == [103_800.0, 105_200.0, 101_800.0]
    assert series.actions[-1] == later


def test_intraday_bars_keep_yahoo_timestamps() -> None:
    start, end = utc(2024, 2, 9), utc(2024, 2, 10)
    series = parse_chart(payload("yahoo_chart_aapl_1h.json"), AAPL, "1h", start, end)
    assert [bar.ts for bar in series.bars] == [utc(2024, 2, 9, 14 + h, 30) for h in range(7)]
    assert not any(bar.partial for bar in series.bars)  # long closed
    partial = series.bars[5]
    assert (partial.open, partial.high, partial.low) == (None, None, None)
    assert partial.close == pytest.approx(188.59, abs=1e-4)
    assert partial.volume == 0


def test_window_is_half_open() -> None:
    end = utc(2024, 2, 9, 14, 30)  # the 02-09 bar starts exactly here: excluded
    series = parse_chart(payload("yahoo_chart_aapl_1d.json"), AAPL, "1d", utc(2024, 2, 7), end)
    assert [bar.ts.day for bar in series.bars] == [7, 8]
    assert series.actions == ()  # the dividend's ex-date is outside too


def test_window_without_bars() -> None:
    series = parse_chart(payload("yahoo_chart_empty.json"), AAPL, "1d", FEB_5, FEB_14)
    assert series.bars == () and series.actions == ()


def test_repeated_live_bar_keeps_the_latest() -> None:
    doc = copy.deepcopy(payload("yahoo_chart_aapl_1d.json"))
    result = doc["chart"]["result"][0]
    result["timestamp"][-2] = 1707834600  # 02-13 at the open, then again live
    result["indicators"]["quote"][0]["close"][-2] = 184.0
    result["indicators"]["quote"][0]["open"][-2] = 185.77
    series = parse_chart(doc, AAPL, "1d", FEB_5, FEB_14)
    assert [bar.ts.day for bar in series.bars] == [5, 6, 7, 8, 9, 13]
    assert series.bars[-1].close == pytest.approx(185.04, abs=1e-4)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r["indicators"]["quote"][0]["close"].pop(), "quote[0].close"),
        (lambda r: r["indicators"]["quote"][0].__setitem__("low", None), "quote[0].low"),
        (lambda r: r["indicators"]["quote"][0]["high"].__setitem__(1, "n/a"), "quote[0].high[1]"),
        (lambda r: r["timestamp"].__setitem__(3, None), "timestamp[3]"),
        (lambda r: r.pop("indicators"), "chart.result[0].indicators"),
        (lambda r: r["events"]["dividends"]["1707489000"].pop("amount"), "amount"),
    ],
)
def test_malformed_chart_is_bad_payload_naming_the_field(mutate, field: str) -> None:
    doc = copy.deepcopy(payload("yahoo_chart_aapl_1d.json"))
    mutate(doc["chart"]["result"][0])
    with pytest.raises(BadPayload) as info:
        parse_chart(doc, AAPL, "1d", FEB_5, FEB_14)
    assert info.value.provider == "yahoo"
    assert field in info.value.field


def test_split_with_zero_denominator_is_bad_payload() -> None:
    doc = copy.deepcopy(payload("yahoo_chart_005930_split.json"))
    doc["chart"]["result"][0]["events"]["splits"]["1525392000"]["denominator"] = 0
    with pytest.raises(BadPayload):
        parse_chart(doc, SAMSUNG, "1d", utc(2018, 4, 25), utc(2018, 5, 10))


@pytest.mark.parametrize(
    ("name", "status", "expected", "text"),
    [
        ("yahoo_error_not_found.json", 404, NotFound, "symbol may be delisted"),
        ("yahoo_error_unauthorized.json", 401, AuthError, "unable to access"),
        ("yahoo_error_unprocessable.json", 422, BadPayload, "within the last 60 days"),
        ("yahoo_error_bad_request.json", 400, BadPayload, "interval=7m"),
        ("yahoo_error_too_many_requests.txt", 429, RateLimited, "Too Many Requests"),
        ("yahoo_error_not_found.json", 200, NotFound, "symbol may be delisted"),
    ],
)
def test_error_bodies(name: str, status: int, expected: type, text: str) -> None:
    response = httpx.Response(status, content=raw(name))
    error = chart_error(response, response.json() if name.endswith(".json") else None)
    assert type(error) is expected
    assert text in str(error)


def test_error_mapping_passes_success_and_maps_5xx() -> None:
    assert chart_error(httpx.Response(200), payload("yahoo_chart_aapl_1d.json")) is None
    assert isinstance(chart_error(httpx.Response(503, text="<html/>"), None), Unavailable)


async def test_client_sends_the_chart_request_and_asks_for_later_splits() -> None:
    answer_ = httpx.Response(200, content=raw("yahoo_chart_005930_split.json"))
    recorder = Recorder(answer_, httpx.Response(200, content=raw("yahoo_chart_empty.json")))
    async with YahooClient("http://yahoo.test/", http=transport_client(recorder)) as client:
        series = await client.fetch_bars(SAMSUNG, utc(2018, 4, 25), utc(2018, 5, 10))
    request, later = recorder.requests
    assert request.url.path == later.url.path == "/v8/finance/chart/005930.KS"
    assert dict(request.url.params) == {
        "period1": "1524614400",
        "period2": "1525910400",
        "interval": "1d",
        "events": "div,splits",
    }
    # The window ended long ago: splits since then, one row a month, from its end to now.
    assert later.url.params["period1"] == "1525910400"
    assert (later.url.params["interval"], later.url.params["events"]) == ("1mo", "splits")
    assert len(series.bars) == 6


async def test_client_maps_unknown_symbol_to_not_found() -> None:
    http = transport_client(answer("yahoo_error_not_found.json", 404))
    client = YahooClient("http://yahoo.test", http=http)
    with pytest.raises(NotFound):
        await client.fetch_bars(AAPL, FEB_5, FEB_14)


async def test_client_quotes_index_symbols() -> None:
    empty = raw("yahoo_chart_empty.json")
    recorder = Recorder(httpx.Response(200, content=empty), httpx.Response(200, content=empty))
    index = AAPL.__class__("^KS11", "KOSPI", "KRX", "KRW", "Asia/Seoul")
    client = YahooClient("http://yahoo.test", http=transport_client(recorder))
    await client.fetch_bars(index, FEB_5, FEB_14)
    assert recorder.requests[0].url.raw_path.startswith(b"/v8/finance/chart/%5EKS11?")


async def test_client_rejects_bad_arguments_before_sending() -> None:
    client = YahooClient("http://yahoo.test", http=transport_client(Recorder()))
    with pytest.raises(ValueError, match="interval"):
        await client.fetch_bars(AAPL, FEB_5, FEB_14, interval="7m")
    with pytest.raises(ValueError, match="aware"):
        await client.fetch_bars(AAPL, datetime(2024, 2, 5), FEB_14)
    with pytest.raises(ValueError, match="empty window"):
        await client.fetch_bars(AAPL, FEB_14, FEB_5)


def _with_live_row(name: str, values: dict[str, float | int]) -> dict:
    """The recorded answer plus the trailing row Yahoo adds at `regularMarketTime`."""
    doc = copy.deepcopy(payload(name))
    result = doc["chart"]["result"][0]
    result["timestamp"].append(result["meta"]["regularMarketTime"])
    for field, column in result["indicators"]["quote"][0].items():
        column.append(values[field])
    return doc


def test_intraday_live_row_folds_into_the_bar_on_its_grid() -> None:
    # 1707512401 is 16:00:01 New York: off the hourly grid, inside the 15:30 bar.
    live = {"open": 188.7, "high": 189.1, "low": 188.6, "close": 188.9, "volume": 6900000}
    doc = _with_live_row("yahoo_chart_aapl_1h.json", live)
    series = parse_chart(doc, AAPL, "1h", utc(2024, 2, 9), utc(2024, 2, 10))
    assert len(series.bars) == 7  # no eighth bar at 21:00:01 UTC
    last = series.bars[-1]
    assert last.ts == utc(2024, 2, 9, 20, 30)
    assert (last.open, last.high, last.low, last.close) == (188.63, 189.1, 188.5, 188.9)
    assert last.volume == 6900000  # the bar's volume so far, not a sum


def test_bar_of_a_period_still_trading_is_partial() -> None:
    doc = payload("yahoo_chart_aapl_1d.json")
    during = utc(2024, 2, 13, 18)  # 13:00 New York on 02-13: that day's bar is not final
    series = parse_chart(doc, AAPL, "1d", FEB_5, FEB_14, as_of=during)
    assert [b.partial for b in series.bars] == [False] * 5 + [True]
    after = parse_chart(doc, AAPL, "1d", FEB_5, FEB_14, as_of=utc(2024, 2, 13, 21, 1))
    assert not any(b.partial for b in after.bars)


def test_prices_in_another_currency_than_the_instruments_are_rejected() -> None:
    doc = copy.deepcopy(payload("yahoo_chart_aapl_1d.json"))
    doc["chart"]["result"][0]["meta"]["currency"] = "EUR"
    with pytest.raises(BadPayload, match="EUR") as info:
        parse_chart(doc, AAPL, "1d", FEB_5, FEB_14)
    assert info.value.field == "meta.currency"

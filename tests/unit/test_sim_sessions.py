"""The sim's trading sessions and Yahoo's edges: holidays, late opens, early closes, the live
row, empty windows, London prices in pence."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest
from starlette.testclient import TestClient

from sim.calendar import day_number, day_of
from sim.calendar import utc_epoch as epoch
from sim.faults import FaultState
from sim.providers import yahoo
from sim.scenarios import Scenarios
from sim.server import SimServer
from sim.sessions import sessions_for
from sim.world import SimWorld


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(seed=7) as server:
        yield server


def chart_at(now: float, symbol: str, scenarios: dict | None = None, **params) -> dict:
    """A chart answer from a world whose clock stands at `now` (no sockets)."""
    world = SimWorld.build(7)
    world.clock = lambda: now
    state = FaultState("yahoo", 7)
    state.scenarios.configure(Scenarios.from_dict("yahoo", scenarios))
    with TestClient(yahoo.build(world, state)) as client:
        response = client.get(f"/v8/finance/chart/{symbol}", params=params)
    assert response.status_code == 200, response.text
    return response.json()["chart"]["result"][0]


def test_sessions_follow_the_exchange_calendars() -> None:
    nyse = sessions_for("NASDAQ", "America/New_York")
    christmas = day_number(date(2024, 12, 25))
    assert not nyse.is_session(christmas) and day_of(nyse.next_session(christmas)).day == 26
    assert nyse.hours(day_number(date(2024, 7, 3))) == (
        epoch(2024, 7, 3, 13, 30),
        epoch(2024, 7, 3, 17),  # early close at 13:00 New York
    )
    krx = sessions_for("KRX", "Asia/Seoul")
    chuseok = [date(2024, 9, 16), date(2024, 9, 17), date(2024, 9, 18)]
    assert not any(krx.is_session(day_number(d)) for d in chuseok)
    assert krx.is_session(day_number(date(2024, 12, 25))) is False  # Christmas in Korea too
    assert sessions_for("LSE", "Europe/London").open(day_number(date(2024, 3, 1))) == epoch(
        2024, 3, 1, 8
    )
    future = day_number(date(2040, 1, 3))  # beyond the calendar: weekdays, regular hours
    assert nyse.is_session(future) and nyse.open(future) == epoch(2040, 1, 3, 14, 30)


def test_yahoo_and_alpha_vantage_serve_no_bar_on_a_holiday(sim: SimServer) -> None:
    with httpx.Client(base_url=sim.urls["yahoo"]) as client:
        params = {"period1": epoch(2024, 12, 20), "period2": epoch(2025, 1, 3), "interval": "1d"}
        result = client.get("/v8/finance/chart/AAPL", params=params).json()["chart"]["result"][0]
    days = [datetime.fromtimestamp(t, UTC).date() for t in result["timestamp"]]
    assert date(2024, 12, 25) not in days and date(2025, 1, 1) not in days
    assert date(2024, 12, 24) in days and date(2024, 12, 26) in days
    with httpx.Client(base_url=sim.urls["alphavantage"]) as client:
        params = {"function": "TIME_SERIES_DAILY", "symbol": "005930.KS", "apikey": "k"}
        series = client.get("/query", params={**params, "outputsize": "full"}).json()
    assert "2024-09-17" not in series["Time Series (Daily)"]  # Chuseok
    assert "2024-09-19" in series["Time Series (Daily)"]


def test_weekly_rows_start_on_the_first_session_of_the_week(sim: SimServer) -> None:
    with httpx.Client(base_url=sim.urls["yahoo"]) as client:
        params = {"period1": epoch(2024, 1, 1), "period2": epoch(2024, 1, 31), "interval": "1wk"}
        result = client.get("/v8/finance/chart/MSFT", params=params).json()["chart"]["result"][0]
    # New Year's Day and Martin Luther King Jr. Day move their weeks to Tuesday.
    assert epoch(2024, 1, 2, 14, 30) in result["timestamp"]
    assert epoch(2024, 1, 16, 14, 30) in result["timestamp"]


def test_early_close_has_fewer_intraday_bars() -> None:
    now = epoch(2024, 7, 10, 20)
    result = chart_at(
        now, "AAPL", interval="1h", period1=epoch(2024, 7, 2), period2=epoch(2024, 7, 4)
    )
    per_day = {}
    for t in result["timestamp"]:
        day = datetime.fromtimestamp(t, UTC).date()
        per_day[day] = per_day.get(day, 0) + 1
    assert per_day == {date(2024, 7, 2): 7, date(2024, 7, 3): 4}
    periods = result["meta"]["tradingPeriods"]
    assert periods[-1][0]["end"] == epoch(2024, 7, 3, 17)


@pytest.mark.parametrize("interval", ["1d", "1wk", "1mo"])
def test_live_row_after_the_close(interval: str) -> None:
    now = epoch(2024, 3, 6, 11)  # Wednesday before New York opens: Tuesday's session is latest
    params = {"period1": epoch(2024, 2, 1), "period2": now + 3600, "interval": interval}
    plain = chart_at(now, "AAPL", **params)
    live = chart_at(now, "AAPL", {"live_row": True}, **params)
    close = epoch(2024, 3, 5, 21)
    assert live["meta"]["regularMarketTime"] == close
    assert live["timestamp"] == [*plain["timestamp"], close]
    quote = live["indicators"]["quote"][0]
    day = chart_at(now, "AAPL", period1=epoch(2024, 3, 5), period2=now, interval="1d")
    today = day["indicators"]["quote"][0]
    for column in ("open", "high", "low", "close", "volume"):
        assert quote[column][-1] == today[column][0]  # the row holds only today's trading
        assert quote[column][:-1] == plain["indicators"]["quote"][0][column]
    assert len(live["indicators"]["adjclose"][0]["adjclose"]) == len(live["timestamp"])


def test_live_row_during_the_session_is_stamped_now() -> None:
    now = epoch(2024, 3, 5, 17, 12, 5)
    params = {"period1": epoch(2024, 3, 1), "period2": now + 60, "interval": "1d"}
    result = chart_at(now, "AAPL", {"live_row": True}, **params)
    assert result["meta"]["regularMarketTime"] == now
    assert result["timestamp"][-2:] == [epoch(2024, 3, 5, 14, 30), now]
    closes = result["indicators"]["quote"][0]["close"]
    assert closes[-1] == closes[-2]
    past = chart_at(
        now, "AAPL", {"live_row": True}, period1=epoch(2024, 2, 1), period2=epoch(2024, 3, 1)
    )
    assert past["timestamp"][-1] == epoch(2024, 2, 29, 14, 30)  # windows in the past: no row


def test_empty_window_with_and_without_empty_timestamps() -> None:
    now = epoch(2024, 3, 6, 11)
    window = {"period1": epoch(2024, 1, 6), "period2": epoch(2024, 1, 8)}  # a weekend
    plain = chart_at(now, "AAPL", **window)
    assert "timestamp" not in plain and "events" not in plain
    assert plain["indicators"] == {"quote": [{}], "adjclose": [{}]}
    empty = chart_at(now, "AAPL", {"empty_timestamps": True}, **window, events="div,splits")
    assert empty["timestamp"] == [] and "events" not in empty
    assert empty["indicators"] == {
        "quote": [{"open": [], "high": [], "low": [], "close": [], "volume": []}],
        "adjclose": [{"adjclose": []}],
    }


def test_events_key_only_with_events_in_the_window(sim: SimServer) -> None:
    with httpx.Client(base_url=sim.urls["yahoo"]) as client:
        params = {"period1": epoch(2024, 4, 1), "period2": epoch(2024, 4, 20), "events": "div"}
        quiet = client.get("/v8/finance/chart/000660.KS", params=params).json()["chart"]
        params = {"period1": epoch(2024, 3, 1), "period2": epoch(2024, 3, 31)}
        one = client.get(
            "/v8/finance/chart/000660.KS", params={**params, "events": "div,splits"}
        ).json()["chart"]
    assert "events" not in quiet["result"][0]
    assert list(one["result"][0]["events"]) == ["dividends"]  # no empty "splits" object


def test_london_listing_is_quoted_in_pence(sim: SimServer) -> None:
    with httpx.Client(base_url=sim.urls["yahoo"]) as client:
        params = {"period1": epoch(2024, 1, 2), "period2": epoch(2024, 1, 10)}
        result = client.get("/v8/finance/chart/VOD.L", params=params).json()["chart"]["result"][0]
    meta = result["meta"]
    assert meta["currency"] == "GBp" and meta["exchangeTimezoneName"] == "Europe/London"
    assert result["timestamp"][0] == epoch(2024, 1, 2, 8)  # 08:00 London
    closes = [c for c in result["indicators"]["quote"][0]["close"] if c is not None]
    assert all(40 < c < 120 for c in closes)  # pence, not pounds
    with httpx.Client(base_url=sim.urls["alphavantage"]) as client:
        params = {"function": "TIME_SERIES_DAILY", "symbol": "VOD.LON", "apikey": "k"}
        body = client.get("/query", params={**params, "outputsize": "full"}).json()
    assert body["Meta Data"]["5. Time Zone"] == "Europe/London"
    assert 40 < float(body["Time Series (Daily)"]["2024-01-02"]["4. close"]) < 120
    universe = {i["id"]: i for i in sim._admin("GET", "/_sim/universe")["instruments"]}
    assert universe["VOD.L"]["currency"] == "GBP"
    assert universe["VOD.L"]["quote_currency"] == "GBp"

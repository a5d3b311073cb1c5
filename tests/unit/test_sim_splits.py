"""Split injection and split-adjusted dividends: as traded before the split nothing changes,
Yahoo re-adjusts history as of the request, Alpha Vantage shows the drop and the coefficient."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from sim.calendar import utc_epoch as epoch
from sim.server import SimServer

SPLIT_DAY = "2024-03-04"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(seed=7) as server:
        yield server


def av_daily(sim: SimServer, function: str = "TIME_SERIES_DAILY") -> dict:
    params = {"function": function, "symbol": "AAPL", "outputsize": "full", "apikey": "k"}
    body = httpx.get(sim.urls["alphavantage"] + "/query", params=params).json()
    return body["Time Series (Daily)"]


def yahoo_chart(sim: SimServer) -> dict:
    params = {"period1": epoch(2024, 2, 1), "period2": epoch(2024, 4, 1), "events": "div,split"}
    body = httpx.get(sim.urls["yahoo"] + "/v8/finance/chart/AAPL", params=params).json()
    return body["chart"]["result"][0]


def test_injected_split_keeps_past_trades_and_adjusts_yahoo(sim: SimServer) -> None:
    raw_before, yahoo_before = av_daily(sim), yahoo_chart(sim)
    try:
        injected = sim.add_split("AAPL", SPLIT_DAY, 4)
        assert injected == [
            {
                "instrument": "AAPL",
                "date": SPLIT_DAY,
                "numerator": 4.0,
                "denominator": 1.0,
                "splitRatio": "4:1",
            }
        ]
        raw_after, yahoo_after = av_daily(sim), yahoo_chart(sim)
        adjusted = av_daily(sim, "TIME_SERIES_DAILY_ADJUSTED")
    finally:
        sim.clear_splits()
    assert raw_after["2024-03-01"] == raw_before["2024-03-01"]  # as traded: unchanged
    assert raw_after["2020-01-02"] == raw_before["2020-01-02"]
    for day in (SPLIT_DAY, "2024-06-03"):
        ratio = float(raw_before[day]["4. close"]) / float(raw_after[day]["4. close"])
        assert ratio == pytest.approx(4.0, rel=1e-3)  # the drop shows from the split on
        volume = int(raw_after[day]["5. volume"]) / int(raw_before[day]["5. volume"])
        assert volume == pytest.approx(4.0, rel=1e-3)
    assert adjusted[SPLIT_DAY]["8. split coefficient"] == "4.0"
    assert adjusted["2024-03-01"]["8. split coefficient"] == "1.0"
    split_ts = epoch(2024, 3, 4, 14, 30)
    assert yahoo_after["events"]["splits"] == {
        str(split_ts): {
            "date": split_ts,
            "numerator": 4.0,
            "denominator": 1.0,
            "splitRatio": "4:1",
        }
    }
    assert "splits" not in yahoo_before["events"]
    # Before the split Yahoo shows as-traded / 4; after it the trades themselves are / 4.
    old, new = yahoo_before["indicators"]["quote"][0], yahoo_after["indicators"]["quote"][0]
    for before, after in zip(old["close"], new["close"], strict=True):
        assert before is None or after == pytest.approx(before / 4, rel=1e-4)  # cents
    assert av_daily(sim) == raw_before  # cleared: the seed's own prices again


def test_split_not_yet_effective_changes_nothing(sim: SimServer) -> None:
    before = yahoo_chart(sim)
    try:
        (split,) = sim.add_split("AAPL", "2099-06-01", 2)
        after = yahoo_chart(sim)
        raw = av_daily(sim)
    finally:
        sim.clear_splits()
    assert split["date"] == "2099-06-01"
    assert after == before  # Yahoo adjusts only for splits that have happened
    assert raw == av_daily(sim)


def test_split_admin_api_validates(sim: SimServer) -> None:
    admin = httpx.Client(base_url=sim.admin_url)
    with admin:
        assert (
            admin.post("/_sim/splits", json={"instrument": "ZZZZ", "date": SPLIT_DAY}).status_code
            == 400
        )
        bad = {"instrument": "AAPL", "date": "2024-03-04", "numerator": 0}
        assert admin.post("/_sim/splits", json=bad).status_code == 400
        # A split on a holiday takes effect on the next session.
        ok = admin.post(
            "/_sim/splits",
            json={
                "instrument": "005930.KS",
                "date": "2024-09-16",
                "numerator": 1,
                "denominator": 5,
            },
        )
        assert ok.status_code == 200
        assert ok.json()["splits"][0]["date"] == "2024-09-19"
        assert admin.get("/_sim/splits").json()["splits"][0]["splitRatio"] == "1:5"
        assert admin.delete("/_sim/splits").json() == {"splits": []}


def test_yahoo_dividends_are_split_adjusted(sim: SimServer) -> None:
    params = {"period1": epoch(2020, 5, 1), "period2": epoch(2020, 6, 1), "events": "div"}
    body = httpx.get(sim.urls["yahoo"] + "/v8/finance/chart/AAPL", params=params).json()
    ((ts, event),) = body["chart"]["result"][0]["events"]["dividends"].items()
    day = datetime.fromtimestamp(int(ts), UTC).date().isoformat()
    as_paid = float(av_daily(sim, "TIME_SERIES_DAILY_ADJUSTED")[day]["7. dividend amount"])
    # AAPL split 4:1 on 2020-08-31: Yahoo shows the May 2020 dividend in today's shares.
    assert event["amount"] == pytest.approx(as_paid / 4, abs=0.0025)

"""The sim's Alpha Vantage /query over real sockets: daily series, CSV, news, error traps."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pytest

from sim.server import SimServer


@pytest.fixture(scope="module")
def av() -> Iterator[httpx.Client]:
    with SimServer(seed=7) as sim, httpx.Client(base_url=sim.urls["alphavantage"]) as client:
        yield client


def query(client: httpx.Client, **params) -> httpx.Response:
    response = client.get("/query", params={"apikey": "k", **params})
    assert response.status_code == 200  # AV answers 200 even for its errors
    return response


def test_daily_compact_json(av: httpx.Client) -> None:
    body = query(av, function="TIME_SERIES_DAILY", symbol="AAPL").json()
    meta = body["Meta Data"]
    assert meta["1. Information"] == "Daily Prices (open, high, low, close) and Volumes"
    assert meta["2. Symbol"] == "AAPL" and meta["4. Output Size"] == "Compact"
    assert meta["5. Time Zone"] == "US/Eastern"
    series = body["Time Series (Daily)"]
    days = list(series)
    assert len(days) == 100 and days == sorted(days, reverse=True)
    assert meta["3. Last Refreshed"] == days[0]
    point = series[days[0]]
    assert list(point) == ["1. open", "2. high", "3. low", "4. close", "5. volume"]
    assert all(isinstance(v, str) for v in point.values()) and point["5. volume"].isdigit()


def test_full_adjusted_shows_raw_prices_splits_and_dividends(av: httpx.Client) -> None:
    body = query(av, function="TIME_SERIES_DAILY_ADJUSTED", symbol="NVDA", outputsize="full").json()
    series = body["Time Series (Daily)"]
    assert body["Meta Data"]["4. Output Size"] == "Full size"
    assert min(series) == "2000-01-03"
    split_day, before = series["2024-06-10"], series["2024-06-07"]
    assert split_day["8. split coefficient"] == "10.0"
    assert float(before["4. close"]) / float(split_day["4. close"]) > 5  # as traded
    assert float(before["5. adjusted close"]) < float(before["4. close"]) / 9
    assert any(float(p["7. dividend amount"]) > 0 for p in series.values())


def test_csv(av: httpx.Client) -> None:
    response = query(av, function="TIME_SERIES_DAILY", symbol="005930.KS", datatype="csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["timestamp", "open", "high", "low", "close", "volume"]
    assert len(rows) == 101 and float(rows[1][4]) % 50 == 0
    json_series = query(av, function="TIME_SERIES_DAILY", symbol="005930.KS").json()
    assert json_series["Time Series (Daily)"][rows[1][0]]["4. close"] == rows[1][4]


@pytest.mark.parametrize(
    ("params", "start"),
    [
        (
            {"function": "TIME_SERIES_DAILY", "symbol": "AAPL", "apikey": ""},
            "the parameter apikey is invalid or missing",
        ),
        (
            {"function": "TIME_SERIES_DAILY", "symbol": "AAPL", "apikey": "bad-key"},
            "the parameter apikey is invalid or missing",
        ),
        ({"function": "TIME_SERIES_DAILY", "symbol": "ZZZZ"}, "Invalid API call."),
        ({"function": "NOT_A_FUNCTION", "symbol": "AAPL"}, "Invalid API call."),
    ],
)
def test_errors_are_http_200_error_messages(av: httpx.Client, params, start) -> None:
    body = query(av, **params).json()
    assert list(body) == ["Error Message"] and body["Error Message"].startswith(start)


def test_news_sentiment_feed(av: httpx.Client) -> None:
    body = query(
        av,
        function="NEWS_SENTIMENT",
        tickers="AAPL",
        time_from="20240101T0000",
        time_to="20240301T0000",
        limit="20",
    ).json()
    assert body["items"] == str(len(body["feed"])) == "20"
    assert "Bearish" in body["sentiment_score_definition"]
    item = body["feed"][0]
    for key in (
        "title",
        "url",
        "time_published",
        "authors",
        "summary",
        "source",
        "overall_sentiment_score",
        "overall_sentiment_label",
        "ticker_sentiment",
    ):
        assert key in item
    assert len(item["time_published"]) == 15 and item["time_published"][8] == "T"
    published = [i["time_published"] for i in body["feed"]]
    assert published == sorted(published, reverse=True)
    assert all("20240101" <= p < "20240301" for p in published)
    mention = item["ticker_sentiment"][0]
    assert mention["ticker"] == "AAPL" and isinstance(mention["relevance_score"], str)
    assert all(any(t["ticker"] == "AAPL" for t in i["ticker_sentiment"]) for i in body["feed"])


def test_news_sentiment_bad_time_is_information(av: httpx.Client) -> None:
    body = query(av, function="NEWS_SENTIMENT", tickers="AAPL", time_from="yesterday").json()
    assert body["Information"].startswith("Invalid inputs")

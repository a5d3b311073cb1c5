"""NewsAPI: Korean and English pages, pagination, withdrawn articles and every error body."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

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
from core.providers.newsapi import (
    NewsApiClient,
    ResultCapReached,
    news_language,
    newsapi_error,
    parse_everything,
)
from tests.unit.providers.conftest import (
    AAPL,
    SAMSUNG,
    Recorder,
    payload,
    raw,
    transport_client,
    utc,
)

JAN_1, JAN_10 = utc(2024, 1, 1), utc(2024, 1, 10)


def paging_client(recorder: Recorder) -> NewsApiClient:
    """A client asking 3 articles per page, as the recorded Samsung pages hold."""
    client = NewsApiClient("http://news.test", api_key="K", http=transport_client(recorder))
    client.page_size = 3
    return client


def page(name: str, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=raw(name), headers=headers)


def test_korean_page_parses_and_drops_removed_articles() -> None:
    result = parse_everything(payload("newsapi_samsung_page1.json"), SAMSUNG, JAN_1, JAN_10)
    assert (result.received, result.total_results) == (3, 5)
    first, second = result.articles
    assert first.title == "삼성전자, 4분기 영업이익 2조8천억원…전년比 35%↓"
    assert first.summary.startswith("삼성전자가 지난해 4분기")
    assert first.source == "연합뉴스"
    assert first.published_at == utc(2024, 1, 9, 0, 12, 43)
    assert (first.provider, first.language, first.instrument_ids) == (
        "newsapi",
        "ko",
        ("005930.KS",),
    )
    assert second.source == "Hankyung.com"


def test_english_page_with_fractional_seconds() -> None:
    result = parse_everything(payload("newsapi_apple.json"), AAPL, utc(2024, 1, 1), utc(2024, 3, 1))
    assert [a.language for a in result.articles] == ["en", "en"]
    assert result.articles[1].published_at == utc(2024, 1, 30, 14, 0)


def test_articles_outside_the_window_are_dropped() -> None:
    result = parse_everything(payload("newsapi_apple.json"), AAPL, utc(2024, 2, 1), utc(2024, 3, 1))
    assert [a.source for a in result.articles] == ["Reuters"]


def test_language_follows_the_exchange() -> None:
    assert (news_language(SAMSUNG), news_language(AAPL)) == ("ko", "en")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["articles"][0].pop("publishedAt"), "articles[0].publishedAt"),
        (
            lambda d: d["articles"][2].update({"publishedAt": "yesterday"}),
            "articles[2].publishedAt",
        ),
        (lambda d: d["articles"][0].update({"url": None}), "articles[0].url"),
        (lambda d: d.pop("totalResults"), "totalResults"),
        (lambda d: d.update({"articles": {}}), "articles"),
    ],
)
def test_malformed_page_is_bad_payload(mutate, field: str) -> None:
    doc = copy.deepcopy(payload("newsapi_samsung_page1.json"))
    mutate(doc)
    with pytest.raises(BadPayload) as info:
        parse_everything(doc, SAMSUNG, JAN_1, JAN_10)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("rateLimited", 429, RateLimited),
        ("apiKeyInvalid", 401, AuthError),
        ("apiKeyMissing", 401, AuthError),
        ("apiKeyDisabled", 401, AuthError),
        ("rateLimited_developer", 429, QuotaExhausted),
        ("apiKeyExhausted", 429, QuotaExhausted),
        ("parameterInvalid", 426, PlanLimit),  # "too far in the past" for the plan
        ("parameterInvalid_plain", 400, BadPayload),
        ("maximumResultsReached", 426, ResultCapReached),
        ("unexpectedError", 500, Unavailable),
    ],
)
def test_every_error_body(code: str, status: int, expected: type) -> None:
    name = f"newsapi_error_{code}.json"
    error = newsapi_error(page(name, status), payload(name))
    assert type(error) is expected
    assert code.split("_")[0] in str(error)


def test_rate_limit_reads_retry_after() -> None:
    name = "newsapi_error_rateLimited.json"
    error = newsapi_error(page(name, 429, {"Retry-After": "3600"}), payload(name))
    assert error.retry_after == 3600.0


def test_result_cap_is_a_plan_limit() -> None:
    assert issubclass(ResultCapReached, PlanLimit)  # neither retried nor rate; may fail over
    assert not issubclass(ResultCapReached, AuthError)


def test_developer_quota_is_spent_for_a_rolling_day() -> None:
    name = "newsapi_error_rateLimited_developer.json"
    before = datetime.now(UTC)
    error = newsapi_error(page(name, 429), payload(name))
    assert not error.retryable and error.failover
    assert timedelta(hours=24) <= error.reset_at - before < timedelta(hours=24, seconds=5)


def test_plain_rate_limit_stays_retryable() -> None:
    name = "newsapi_error_rateLimited.json"
    error = newsapi_error(page(name, 429), payload(name))
    assert type(error) is RateLimited and error.retryable


def test_unknown_error_code_falls_back_to_the_status() -> None:
    body = {"status": "error", "code": "somethingNew", "message": "?"}
    assert isinstance(newsapi_error(httpx.Response(404, json=body), body), NotFound)
    assert isinstance(newsapi_error(httpx.Response(200, json=body), body), BadPayload)


async def test_client_paginates_until_total_results_and_dedupes() -> None:
    recorder = Recorder(page("newsapi_samsung_page1.json"), page("newsapi_samsung_page2.json"))
    client = paging_client(recorder)
    articles = await client.fetch_news(SAMSUNG, JAN_1, JAN_10, limit=6)
    # page 2 repeats the Hankyung story with other quotes and tracking params
    assert [a.source for a in articles] == ["연합뉴스", "Hankyung.com", "Chosun.com"]
    assert [r.url.params["page"] for r in recorder.requests] == ["1", "2"]
    first = recorder.requests[0]
    assert first.headers["X-Api-Key"] == "K"
    assert "K" not in str(first.url)
    assert dict(first.url.params) == {
        "q": "삼성전자",
        "from": "2024-01-01T00:00:00",
        "to": "2024-01-10T00:00:00",
        "language": "ko",
        "sortBy": "publishedAt",
        "pageSize": "3",
        "page": "1",
    }


async def test_client_stops_at_the_limit() -> None:
    recorder = Recorder(page("newsapi_samsung_page1.json"))
    client = NewsApiClient("http://news.test", api_key="K", http=transport_client(recorder))
    articles = await client.fetch_news(SAMSUNG, JAN_1, JAN_10, limit=1)
    assert len(articles) == 1 and len(recorder.requests) == 1
    assert recorder.requests[0].url.params["pageSize"] == "1"


async def test_client_keeps_earlier_pages_when_the_plan_caps_results() -> None:
    cap = page("newsapi_error_maximumResultsReached.json", 426)
    recorder = Recorder(page("newsapi_samsung_page1.json"), cap)
    client = paging_client(recorder)
    articles = await client.fetch_news(SAMSUNG, JAN_1, JAN_10, limit=6)
    assert len(articles) == 2


async def test_client_raises_the_cap_on_the_first_page() -> None:
    recorder = Recorder(page("newsapi_error_maximumResultsReached.json", 426))
    client = NewsApiClient("http://news.test", api_key="K", http=transport_client(recorder))
    with pytest.raises(ResultCapReached):
        await client.fetch_news(SAMSUNG, JAN_1, JAN_10)


async def test_client_raises_errors_from_later_pages() -> None:
    recorder = Recorder(
        page("newsapi_samsung_page1.json"), page("newsapi_error_rateLimited.json", 429)
    )
    client = paging_client(recorder)
    with pytest.raises(RateLimited):
        await client.fetch_news(SAMSUNG, JAN_1, JAN_10, limit=6)


async def test_many_pages_for_a_large_limit() -> None:
    recorder = Recorder(page("newsapi_apple.json"))
    client = NewsApiClient("http://news.test", api_key="K", http=transport_client(recorder))
    await client.fetch_news(AAPL, utc(2024, 1, 1), utc(2024, 3, 1), limit=250)
    params = recorder.requests[0].url.params
    assert (params["pageSize"], params["language"], params["q"]) == ("100", "en", "Apple")
    assert len(recorder.requests) == 1  # totalResults 2 fits on the first page

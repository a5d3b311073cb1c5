"""The sim's NewsAPI /v2/everything over real sockets: articles, duplicates, truth, errors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from sim.server import SimServer

WINDOW = {"from": "2024-01-01", "to": "2024-02-29"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(seed=7) as server:
        yield server


@pytest.fixture(scope="module")
def news(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.urls["newsapi"], headers={"X-Api-Key": "k"}) as client:
        yield client


def everything(client: httpx.Client, **params) -> dict:
    response = client.get("/v2/everything", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    return body


def test_articles_have_newsapi_shape_and_no_sentiment(news: httpx.Client) -> None:
    body = everything(news, q="Apple", language="en", sortBy="publishedAt", pageSize=10, **WINDOW)
    assert body["totalResults"] > 50 and len(body["articles"]) == 10
    article = body["articles"][0]
    assert set(article) == {
        "source",
        "author",
        "title",
        "description",
        "url",
        "urlToImage",
        "publishedAt",
        "content",
    }
    assert set(article["source"]) == {"id", "name"}
    assert article["publishedAt"].endswith("Z") and len(article["publishedAt"]) == 20
    published = [a["publishedAt"] for a in body["articles"] if a["title"] != "[Removed]"]
    assert published == sorted(published, reverse=True)  # [Removed] ones say 1970
    assert "sentiment" not in str(body).lower() and "label" not in str(body)


def test_korean_articles(news: httpx.Client) -> None:
    body = everything(news, q="삼성전자", language="ko", **WINDOW)
    titles = [a["title"] for a in body["articles"] if a["title"] != "[Removed]"]
    assert titles and all("삼성전자" in t for t in titles)


def test_duplicates_with_tracking_params_and_removed_placeholders(news: httpx.Client) -> None:
    articles = everything(news, q="Apple OR Microsoft OR NVIDIA", **WINDOW)["articles"]
    base = Counter(a["url"].split("?")[0] for a in articles if a["url"] != "https://removed.com")
    assert any(n > 1 for n in base.values())
    assert any("utm_source=" in a["url"] for a in articles)
    removed = [a for a in articles if a["title"] == "[Removed]"]
    assert all(a["url"] == "https://removed.com" for a in removed)


def test_paging(news: httpx.Client) -> None:
    first = everything(news, q="NVIDIA", pageSize=5, page=1, **WINDOW)
    second = everything(news, q="NVIDIA", pageSize=5, page=2, **WINDOW)
    assert first["totalResults"] == second["totalResults"]
    assert not {a["url"] for a in first["articles"]} & {a["url"] for a in second["articles"]}
    beyond = everything(news, q="NVIDIA", pageSize=100, page=50, **WINDOW)
    assert beyond["articles"] == []


def test_truth_matches_what_newsapi_lists(sim: SimServer, news: httpx.Client) -> None:
    window = {"from": "2024-01-08", "to": "2024-01-12"}
    stories = sim.truth_news(symbol="AAPL", provider="newsapi", **window)
    assert stories and all(s["label"] in ("positive", "negative", "neutral") for s in stories)
    listed = {a["url"] for a in everything(news, q="Apple", **window)["articles"]}
    truth_urls = {
        c["url"]
        for s in stories
        for c in s["copies"]
        if c["provider"] == "newsapi" and not c["removed"]
    }
    assert listed - {"https://removed.com"} <= truth_urls


@pytest.mark.parametrize(
    ("headers", "params", "status", "code"),
    [
        ({}, {"q": "Apple"}, 401, "apiKeyMissing"),
        ({"X-Api-Key": "bad-key"}, {"q": "Apple"}, 401, "apiKeyInvalid"),
        ({"X-Api-Key": "k"}, {}, 400, "parametersMissing"),
        ({"X-Api-Key": "k"}, {"q": "Apple", "language": "xx"}, 400, "parameterInvalid"),
        ({"X-Api-Key": "k"}, {"q": "Apple", "from": "last week"}, 400, "parameterInvalid"),
    ],
)
def test_errors(sim: SimServer, headers, params, status, code) -> None:
    response = httpx.get(f"{sim.urls['newsapi']}/v2/everything", params=params, headers=headers)
    assert response.status_code == status
    body = response.json()
    assert body["status"] == "error" and body["code"] == code and body["message"]


def test_key_in_query_param(sim: SimServer) -> None:
    response = httpx.get(
        f"{sim.urls['newsapi']}/v2/everything", params={"q": "Apple", "apiKey": "k", **WINDOW}
    )
    assert response.status_code == 200


def test_developer_plan_cap(sim: SimServer, news: httpx.Client) -> None:
    sim.set_faults("newsapi", {"max_results": 100})
    try:
        assert everything(news, q="Apple", pageSize=50, page=2, **WINDOW)["articles"]
        response = news.get("/v2/everything", params={"q": "Apple", "pageSize": 50, "page": 3})
        assert response.status_code == 426
        assert response.json()["code"] == "maximumResultsReached"
    finally:
        sim.clear_faults()

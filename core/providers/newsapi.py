"""NewsAPI (`/v2/everything`): news articles by query term, paginated.

The query term is the instrument's `newsapi` symbol (a name such as `삼성전자`); the language
is `ko` for Korean exchanges, else `en`. Articles NewsAPI has withdrawn (title `[Removed]`)
are dropped. Needs a key, sent as the `X-Api-Key` header and checked on first call.
The developer plan allows 100 requests per rolling 24 hours: `rateLimited` saying so (or
`apiKeyExhausted`) is `QuotaExhausted` for 24 hours; a plain `rateLimited` stays RateLimited.
Its other limits (the result cap, the month of history) are `PlanLimit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.errors import (
    AuthError,
    BadPayload,
    NotFound,
    PlanLimit,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    Unavailable,
)
from core.matching import Matcher
from core.models import Article, Capability, Instrument
from core.providers.base import HttpProviderClient, news_article
from core.providers.http import retry_after, status_error
from core.providers.payload import as_datetime, as_dict, as_int, as_list, as_str, member

PROVIDER = "newsapi"
PAGE_SIZE_MAX = 100
KOREAN_EXCHANGES = frozenset({"KRX", "KOSPI", "KOSDAQ", "KONEX"})
QUERY_MAX_CHARS = 500  # NewsAPI's documented maximum length of `q`
BATCH_MAX = 10  # companies per query: a page of 100 leaves about ten articles each
NEWS_HISTORY = timedelta(days=30)  # the developer plan's reach; paid plans go further
QUOTA_WINDOW = timedelta(hours=24)  # the developer plan counts requests over a rolling day
_REMOVED = "[Removed]"
_QUOTA_PHRASES = ("24 hour", "per day", "developer accounts are limited")
_PLAN_PHRASES = ("too far in the past", "your plan", "upgrade to a paid plan")


class ResultCapReached(PlanLimit):
    """`maximumResultsReached`: the key's plan serves no further page (a plan limit, not rate)."""


class NewsApiClient(HttpProviderClient):
    """News from NewsAPI's `everything` endpoint."""

    name = PROVIDER
    capabilities = frozenset({Capability.NEWS})
    page_size = PAGE_SIZE_MAX  # articles per request; smaller only to exercise paging

    @classmethod
    def max_history(cls, interval: str = "1d") -> timedelta | None:
        """How far back from now NewsAPI serves articles (any `interval`)."""
        return NEWS_HISTORY

    async def fetch_news(
        self, instrument: Instrument, start: datetime, end: datetime, limit: int = 100
    ) -> list[Article]:
        """At most `limit` articles in `[start, end)`, newest first (paginating as needed)."""
        self._check_window(start, end)
        headers = {"X-Api-Key": self._key()}
        page_size = max(1, min(limit, self.page_size))
        articles: dict[str, Article] = {}
        for page in range(1, math.ceil(limit / page_size) + 1):
            params = everything_params(instrument, start, end, page_size, page)
            try:
                payload = await self._get_json(
                    "/v2/everything", newsapi_error, params, headers, instrument=instrument
                )
            except ResultCapReached:
                if page == 1:
                    raise
                break  # the plan's result cap: keep what the earlier pages gave
            result = parse_everything(payload, instrument, start, end)
            for article in result.articles:
                articles.setdefault(article.fingerprint, article)
            if result.received < page_size or page * page_size >= result.total_results:
                break
        newest_first = sorted(articles.values(), key=lambda a: a.published_at, reverse=True)
        return newest_first[:limit]

    @classmethod
    def batches(cls, capability: Capability, instruments: list[Instrument]) -> list[list]:
        """News: several companies per query (same language, `q` within its length)."""
        if capability is not Capability.NEWS:
            return super().batches(capability, instruments)
        return news_batches(instruments)

    async def fetch_news_batch(
        self, instruments: list[Instrument], start: datetime, end: datetime
    ) -> dict[str, list[Article]]:
        """One request (a page of 100, newest first) for several companies: each article
        goes to the instruments whose name it mentions in its title or description."""
        self._check_window(start, end)
        if len({news_language(i) for i in instruments}) != 1:
            raise ValueError("a news batch must be of one language (see news_batches)")
        params = everything_params(instruments[0], start, end, self.page_size, 1)
        params["q"] = batch_query(instruments)
        headers = {"X-Api-Key": self._key()}
        payload = await self._get_json("/v2/everything", newsapi_error, params, headers)
        page = parse_everything(payload, instruments[0], start, end)
        return assign_articles(page.articles, instruments)


def news_language(instrument: Instrument) -> str:
    """`ko` for instruments listed in Korea, else `en`."""
    return "ko" if instrument.exchange.upper() in KOREAN_EXCHANGES else "en"


def everything_params(
    instrument: Instrument, start: datetime, end: datetime, page_size: int, page: int
) -> dict[str, str]:
    """Query parameters of one `everything` page (times in UTC, ISO 8601 as NewsAPI documents)."""
    return {
        "q": instrument.symbol_for(PROVIDER),
        "from": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "to": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "language": news_language(instrument),
        "sortBy": "publishedAt",
        "pageSize": str(page_size),
        "page": str(page),
    }


def _term(instrument: Instrument) -> str:
    return instrument.symbol_for(PROVIDER).replace('"', "")


def batch_query(instruments: list[Instrument]) -> str:
    """`"Apple" OR "Microsoft"`: NewsAPI's boolean query, each name an exact phrase."""
    return " OR ".join(f'"{_term(i)}"' for i in instruments)


def news_batches(instruments: list[Instrument]) -> list[list[Instrument]]:
    """Consecutive instruments packed into queries of one language, at most `BATCH_MAX`
    names and `QUERY_MAX_CHARS` characters each; groups ordered by their first member."""
    open_batches: dict[str, list[Instrument]] = {}
    groups: list[list[Instrument]] = []
    for instrument in instruments:
        language = news_language(instrument)
        batch = open_batches.get(language)
        if (
            batch is None
            or len(batch) >= BATCH_MAX
            or len(batch_query([*batch, instrument])) > QUERY_MAX_CHARS
        ):
            batch = open_batches[language] = []
            groups.append(batch)
        batch.append(instrument)
    return groups


def assign_articles(
    articles: list[Article], instruments: list[Instrument]
) -> dict[str, list[Article]]:
    """Each article under every instrument its title or description names (`core.matching`,
    the rules RSS shares: tickers, names, aliases, traps such as "Apple pie" left out); an
    article naming none of them is dropped."""
    matcher = Matcher(instruments)
    out: dict[str, list[Article]] = {i.id: [] for i in instruments}
    for article in articles:
        for iid in matcher.match(article.title, article.summary):
            out[iid].append(replace(article, instrument_ids=(iid,)))
    return out


def newsapi_error(response: httpx.Response, payload: Any) -> ProviderError | None:
    """NewsAPI's one error mapping: `{"status": "error", "code", "message"}` or the status."""
    if not (isinstance(payload, dict) and payload.get("status") == "error"):
        return status_error(PROVIDER, response)
    code = str(payload.get("code") or "")
    text = str(payload.get("message") or "")
    message = f"{code}: {text}".strip(": ")
    if code == "apiKeyExhausted" or (
        code == "rateLimited" and any(p in text.lower() for p in _QUOTA_PHRASES)
    ):
        return QuotaExhausted(PROVIDER, message, datetime.now(UTC) + QUOTA_WINDOW)
    if code == "rateLimited":
        return RateLimited(PROVIDER, message, retry_after(response))
    if code in ("apiKeyInvalid", "apiKeyMissing", "apiKeyDisabled", "corsNotAllowed"):
        return AuthError(PROVIDER, message)
    if code == "maximumResultsReached":
        return ResultCapReached(PROVIDER, message)
    if code == "sourceDoesNotExist":
        return NotFound(PROVIDER, message)
    if code == "parameterInvalid" and any(p in text.lower() for p in _PLAN_PHRASES):
        return PlanLimit(PROVIDER, message)  # e.g. "too far in the past" for the plan
    if code in ("parameterInvalid", "parametersMissing", "sourcesTooMany"):
        return BadPayload(PROVIDER, f"request rejected: {message}", field="request")
    if code == "unexpectedError":
        return Unavailable(PROVIDER, message)
    return status_error(PROVIDER, response, message) or BadPayload(PROVIDER, message, "code")


@dataclass(frozen=True, slots=True)
class EverythingPage:
    """One parsed page: the kept articles, how many came, and the query's total."""

    articles: list[Article]
    received: int
    total_results: int


def parse_everything(
    payload: Any, instrument: Instrument, start: datetime, end: datetime
) -> EverythingPage:
    """Standard articles from one `everything` page, dropping withdrawn and out-of-window ones."""
    status = member(PROVIDER, payload, "status", "")
    if status != "ok":
        raise BadPayload(PROVIDER, f"unexpected status {status!r:.20}", "status")
    total = as_int(PROVIDER, member(PROVIDER, payload, "totalResults", ""), "totalResults") or 0
    raw_articles = as_list(PROVIDER, member(PROVIDER, payload, "articles", ""), "articles")
    language = news_language(instrument)
    articles = []
    for i, raw in enumerate(raw_articles):
        article = _article(as_dict(PROVIDER, raw, f"articles[{i}]"), i, instrument, language)
        if article is not None and start <= article.published_at < end:
            articles.append(article)
    return EverythingPage(articles, len(raw_articles), total)


def _article(item: dict[str, Any], i: int, instrument: Instrument, language: str) -> Article | None:
    path = f"articles[{i}]"
    title = as_str(PROVIDER, member(PROVIDER, item, "title", path), f"{path}.title")
    url = as_str(PROVIDER, member(PROVIDER, item, "url", path), f"{path}.url")
    if title.strip() == _REMOVED:
        return None
    published = as_datetime(
        PROVIDER, member(PROVIDER, item, "publishedAt", path), f"{path}.publishedAt"
    )
    source = item.get("source")
    source_name = source.get("name") if isinstance(source, dict) else None
    return news_article(
        PROVIDER,
        instrument,
        url,
        title,
        published,
        language=language,
        summary=item.get("description"),
        source=source_name,
    )

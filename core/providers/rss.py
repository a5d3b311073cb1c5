"""RSS 2.0 and Atom feeds the operator lists in providers.yaml (`rss.feeds`): keyless news.

Each feed is fetched with the project's HTTP client (same timeouts; the provider actor's
limiter, retries, circuit and metrics wrap every call) and parsed by `feedparser`, which only
sees the bytes. Conditional requests: each feed's ETag / Last-Modified is kept in this
client (the provider actor's memory) and sent back as If-None-Match / If-Modified-Since; a
304 costs no body. Kept in memory rather than in a table or Redis on purpose: losing them
(an actor restart) costs one full download per feed, which is all they ever save.

A feed is not about one instrument, so collection asks for all instruments at once
(`fetch_news_batch`, one group): each feed is fetched once and its items go to the
instruments `core.matching` finds in title and summary, among those the feed may concern
(`instruments: all` or a list) and, if it lists `keywords`, only items naming one. A 304
there yields no articles (they were delivered with the 200). `fetch_news` for one instrument
(failover, backfill) re-reads the entries kept from the last 200 on a 304.

Feeds on one host share one rate limit (`per_host`, default 1 request a second). Items
without a date are dated when first fetched; HTML in titles is reduced to text; relative
links are resolved against the feed's URL; a GUID repeated within a feed is kept once.
With the sim (`STOCKRAY_PROVIDER_URLS__RSS`), every feed URL is served under
`<sim>/feeds/<host>/<path>`.
"""

from __future__ import annotations

import asyncio
import calendar
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx

from core.errors import BadPayload
from core.matching import Matcher
from core.models import Article, Capability, Instrument
from core.providers.base import HttpProviderClient, news_article
from core.providers.http import fetch_response, status_error
from core.resilience.limiter import LocalRateLimiter

PROVIDER = "rss"
MAX_BODY_BYTES = 5_000_000
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Feed:
    """One listed feed: URL, language, the instruments it may concern (None: all), and
    keywords an item must name to be considered (none: every item)."""

    url: str
    language: str = "en"
    instruments: tuple[str, ...] | None = None
    keywords: tuple[str, ...] = ()

    @property
    def host(self) -> str:
        """The feed's host (feeds on one host share its rate limit)."""
        return urlsplit(self.url).hostname or ""


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item, parsed: what an `Article` is built from."""

    guid: str
    url: str
    title: str
    summary: str | None
    published_at: datetime | None


@dataclass
class FeedState:
    """What the last 200 of a feed left: its validators and its entries."""

    etag: str | None = None
    last_modified: str | None = None
    entries: list[Entry] = field(default_factory=list)
    not_modified: int = 0  # 304s answered, for tests and health

    def conditional_headers(self) -> dict[str, str]:
        """If-None-Match / If-Modified-Since from the last answer's validators."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


def plain_text(value: str | None) -> str | None:
    """HTML reduced to its text, entities decoded, whitespace collapsed (None if empty)."""
    if not value:
        return None
    # Titles and summaries carry inline markup at most; no HTML parser needed for that.
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", value))).strip()
    return text or None


def parse_feed(content: bytes, url: str) -> list[Entry]:
    """A feed's items (RSS 0.9x/1.0/2.0 or Atom), relative links resolved against `url`,
    a repeated GUID kept once. Raises BadPayload when the bytes are no feed at all."""
    parsed = feedparser.parse(content, response_headers={"content-location": url})
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no RSS or Atom document"
        raise BadPayload(PROVIDER, f"{urlsplit(url).path or url}: {reason}"[:200], "body")
    entries: list[Entry] = []
    seen: set[str] = set()
    for item in parsed.entries:
        link = item.get("link") or ""
        title = plain_text(item.get("title"))
        if not link or not title:
            continue  # nothing to cite or nothing to read
        guid = item.get("id") or link
        if guid in seen:
            continue
        seen.add(guid)
        stamp = item.get("published_parsed") or item.get("updated_parsed")
        published = datetime.fromtimestamp(calendar.timegm(stamp), UTC) if stamp else None
        entries.append(Entry(guid, link, title, plain_text(item.get("summary")), published))
    return entries


class RssClient(HttpProviderClient):
    """News from the RSS/Atom feeds listed in providers.yaml."""

    name = PROVIDER
    capabilities = frozenset({Capability.NEWS})
    needs_key = False

    def __init__(
        self,
        base_url: str,
        *,
        feeds: Iterable[Feed] = (),
        direct_base: str | None = None,
        per_host: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, **kwargs)
        self.feeds = tuple(feeds)
        # Feeds are fetched at their own URLs unless the base URL was overridden (the sim).
        self.rewrite = direct_base is not None and self.base_url != direct_base.rstrip("/")
        self._per_host = [per_host] if per_host is not None else [_OnePerSecond()]
        self._hosts: dict[str, LocalRateLimiter] = {}
        self.state: dict[str, FeedState] = {}

    @classmethod
    def client_options(cls, config: Any) -> dict[str, Any]:
        """Constructor options from the provider's config section (its `feeds`)."""
        return {
            "feeds": [
                Feed(
                    f.url,
                    f.language,
                    None if f.instruments == "all" else tuple(f.instruments),
                    tuple(f.keywords),
                )
                for f in getattr(config, "feeds", [])
            ],
            "direct_base": config.base_url,
            "per_host": getattr(config, "per_host", None),
        }

    @classmethod
    def batches(cls, capability: Capability, instruments: list[Instrument]) -> list[list]:
        """News: every instrument in one group (each feed is fetched once for all)."""
        if capability is not Capability.NEWS or not instruments:
            return super().batches(capability, instruments)
        return [list(instruments)]

    async def fetch_news(
        self, instrument: Instrument, start: datetime, end: datetime, limit: int = 100
    ) -> list[Article]:
        """Articles about `instrument` in `[start, end)`, newest first (see the docstring)."""
        got = await self._collect([instrument], start, end, reuse_unchanged=True)
        articles = sorted(got[instrument.id], key=lambda a: a.published_at, reverse=True)
        return articles[:limit]

    async def fetch_news_batch(
        self, instruments: list[Instrument], start: datetime, end: datetime
    ) -> dict[str, list[Article]]:
        """Every feed once; each new item under the instruments it names."""
        return await self._collect(instruments, start, end, reuse_unchanged=False)

    async def _collect(
        self, instruments: Sequence[Instrument], start: datetime, end: datetime, *,
        reuse_unchanged: bool,
    ) -> dict[str, list[Article]]:  # fmt: skip
        self._check_window(start, end)
        ids = {i.id for i in instruments}
        feeds = [f for f in self.feeds if f.instruments is None or ids & set(f.instruments)]
        out: dict[str, dict[str, Article]] = {i.id: {} for i in instruments}
        if not feeds:
            return {k: [] for k in out}
        matcher = Matcher(instruments)
        results = await asyncio.gather(
            *(self._entries(f, reuse_unchanged) for f in feeds), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and len(errors) == len(results):
            raise errors[0]  # every feed failed: the provider's failure (circuit, failover)
        for feed, result in zip(feeds, results, strict=True):
            if isinstance(result, BaseException):
                continue  # one feed down: the others still count
            for entry in result:
                _place(feed, entry, matcher, start, end, out)
        return {k: list(v.values()) for k, v in out.items()}

    async def _entries(self, feed: Feed, reuse_unchanged: bool) -> list[Entry]:
        state = self.state.setdefault(feed.url, FeedState())
        await self._host_limiter(feed.host).acquire()
        response = await self._get(self.url_for(feed.url), state.conditional_headers())
        fetched_at = datetime.now(UTC)
        if response.status_code == 304:
            state.not_modified += 1
            return state.entries if reuse_unchanged else []
        error = status_error(PROVIDER, response)
        if error is not None:
            raise error
        entries = [
            e if e.published_at else replace(e, published_at=fetched_at)
            for e in parse_feed(response.content, feed.url)
        ]
        # Dates given to undated items stay those of their first sighting.
        first_seen = {e.guid: e.published_at for e in state.entries}
        entries = [replace(e, published_at=first_seen.get(e.guid, e.published_at)) for e in entries]
        state.etag = response.headers.get("ETag")
        state.last_modified = response.headers.get("Last-Modified")
        state.entries = entries
        return entries

    def url_for(self, url: str) -> str:
        """Where `url` is fetched: itself, or its copy under the sim's `/feeds/<host>/`."""
        if not self.rewrite:
            return url
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.base_url}/feeds/{parts.netloc}{parts.path or '/'}{query}"

    def _host_limiter(self, host: str) -> LocalRateLimiter:
        if host not in self._hosts:
            self._hosts[host] = LocalRateLimiter(f"{PROVIDER}:{host}", self._per_host)
        return self._hosts[host]

    async def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        # The same sending, reading and redirect rule as every provider (`http.fetch_response`):
        # redirects within the feed's host only. A feed moved to another host fails naming
        # it, so the operator updates providers.yaml rather than stockray silently reading
        # elsewhere.
        where = urlsplit(url).path or url
        request = self._client().build_request("GET", url, headers=headers, timeout=self._timeout)
        response = await fetch_response(self._client(), PROVIDER, request)
        if len(response.content) > MAX_BODY_BYTES:
            raise BadPayload(PROVIDER, f"{where}: body over {MAX_BODY_BYTES} bytes", "body")
        return response


@dataclass(frozen=True, slots=True)
class _OnePerSecond:
    requests: int = 1
    per_s: float = 1.0


def _place(
    feed: Feed,
    entry: Entry,
    matcher: Matcher,
    start: datetime,
    end: datetime,
    out: dict[str, dict[str, Article]],
) -> None:
    published = entry.published_at
    if published is None or not (start <= published < end):
        return
    text = f"{entry.title}\n{entry.summary or ''}"
    if feed.keywords and not any(k.lower() in text.lower() for k in feed.keywords):
        return
    candidates = [i for i in out if feed.instruments is None or i in feed.instruments]
    for iid in matcher.match(entry.title, entry.summary, only=candidates):
        instrument = matcher.instruments[iid]
        article = news_article(
            PROVIDER, instrument, entry.url, entry.title, published,
            language=feed.language, summary=entry.summary, source=urlsplit(feed.url).hostname,
        )  # fmt: skip
        out[iid].setdefault(article.fingerprint, article)


__all__ = ["Entry", "Feed", "FeedState", "RssClient", "parse_feed", "plain_text"]

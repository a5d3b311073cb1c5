"""Reading news: an instrument's articles page by page, and the titles of cited articles.
The writers are in `core.storage.writers`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.models import Article
from core.storage.db import Db
from core.storage.paging import After, Page, page


@dataclass(frozen=True, slots=True)
class ArticleLink:
    """An article as a citation shows it: its fingerprint, title and URL."""

    fingerprint: str
    title: str
    url: str
    published_at: datetime


_NEWS = """
    SELECT a.fingerprint, a.url, a.title, a.summary, a.published_at, a.provider,
           a.language, a.source
    FROM articles a JOIN article_instruments ai ON ai.fingerprint = a.fingerprint
    WHERE ai.instrument_id = $1
      AND ($2::timestamptz IS NULL OR (a.published_at, a.fingerprint) < ($2, $3))
    ORDER BY a.published_at DESC, a.fingerprint DESC LIMIT $4"""
_LINKS = "SELECT fingerprint, title, url, published_at FROM articles WHERE fingerprint = ANY($1)"


async def news_page(db: Db, instrument_id: str, after: After | None, limit: int) -> Page[Article]:
    """Articles linked to the instrument, newest first (by time, then fingerprint), the
    first `limit` after `after`."""
    rows = await db.fetch(
        _NEWS, instrument_id, after.at if after else None, after.key if after else "", limit + 1
    )
    return page([Article(**dict(r)) for r in rows], limit)


async def links(db: Db, fingerprints: Sequence[str]) -> list[ArticleLink]:
    """The stored articles among `fingerprints` (in no particular order)."""
    return [ArticleLink(**dict(r)) for r in await db.fetch(_LINKS, list(fingerprints))]

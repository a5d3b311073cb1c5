"""What the instrument chart marks: its news (one per story, with the analysed verdict) and
its filings in a time range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.models import Disclosure
from core.storage.db import Db

# A story's marker is its newest article linked to the instrument; its verdict is over every
# analysis of the story's articles for the instrument (as `analyses.daily_sentiment` counts a
# story once): the mean sentiment and the most common label (null: none analysed yet).
_STORIES = """
    WITH linked AS (
        SELECT a.fingerprint, a.url, a.title, a.published_at,
               COALESCE(a.story_id, a.fingerprint) AS story
        FROM articles a JOIN article_instruments ai ON ai.fingerprint = a.fingerprint
        WHERE ai.instrument_id = $1 AND a.published_at >= $2 AND a.published_at < $3),
    newest AS (
        SELECT DISTINCT ON (story) story, fingerprint, url, title, published_at
        FROM linked ORDER BY story, published_at DESC, fingerprint DESC),
    verdicts AS (
        SELECT l.story, avg(x.sentiment) AS sentiment,
               mode() WITHIN GROUP (ORDER BY x.label) AS label
        FROM linked l JOIN analyses x ON x.fingerprint = l.fingerprint AND x.instrument_id = $1
        GROUP BY l.story),
    sizes AS (SELECT story, count(*) AS sources FROM linked GROUP BY story)
    SELECT n.story, n.fingerprint, n.url, n.title, n.published_at, s.sources,
           v.sentiment, v.label
    FROM newest n JOIN sizes s USING (story) LEFT JOIN verdicts v USING (story)
    ORDER BY n.published_at DESC, n.fingerprint DESC LIMIT $4"""

_FILINGS = """
    SELECT provider, provider_id, instrument_id, title, filed_at, filer, url FROM disclosures
    WHERE instrument_id = $1 AND filed_at >= $2 AND filed_at < $3
    ORDER BY filed_at DESC, provider_id DESC LIMIT $4"""


@dataclass(frozen=True, slots=True)
class StoryMark:
    """A story on the chart: its newest article, how many articles it has, and its verdict
    (`sentiment` −1..1 and `label`; both None while no article of it is analysed)."""

    story_id: str
    fingerprint: str
    url: str
    title: str
    published_at: datetime
    sources: int
    sentiment: float | None
    label: str | None


async def story_marks(
    db: Db, instrument_id: str, start: datetime, end: datetime, limit: int
) -> list[StoryMark]:
    """The instrument's stories whose newest article is in [start, end), newest first, at
    most `limit`."""
    rows = await db.fetch(_STORIES, instrument_id, start, end, limit)
    return [
        StoryMark(
            r["story"],
            r["fingerprint"],
            r["url"],
            r["title"],
            r["published_at"],
            r["sources"],
            r["sentiment"],
            r["label"],
        )
        for r in rows
    ]


async def filing_marks(
    db: Db, instrument_id: str, start: datetime, end: datetime, limit: int
) -> list[Disclosure]:
    """The instrument's filings in [start, end), newest first, at most `limit`."""
    rows = await db.fetch(_FILINGS, instrument_id, start, end, limit)
    return [Disclosure(**dict(r)) for r in rows]

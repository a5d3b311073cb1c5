"""Article verdicts: the articles still to analyse and storing verdicts (idempotent by key)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.models import Article
from core.storage.db import Db

_PENDING = """
    SELECT ar.fingerprint, ar.url, ar.title, ar.summary, ar.published_at, ar.provider,
           ar.language, ar.source
    FROM articles ar
    JOIN article_instruments ai ON ai.fingerprint = ar.fingerprint AND ai.instrument_id = $1
    WHERE ar.published_at >= $2 AND ar.published_at < $3
      AND NOT EXISTS (SELECT 1 FROM analyses x
                      WHERE x.fingerprint = ar.fingerprint AND x.instrument_id = $1
                        AND x.prompt_version = $4 AND x.method = ANY($5::text[]))
    ORDER BY ar.published_at"""

_INSERT = """
    INSERT INTO analyses (fingerprint, instrument_id, cache_key, method, model, prompt_version,
                          sentiment, label, relevance, gist)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"""


async def pending_articles(
    db: Db,
    instrument_id: str,
    start: datetime,
    end: datetime,
    prompt_version: str,
    methods: Sequence[str],
) -> list[Article]:
    """The instrument's articles in [start, end) with no verdict by `methods` under
    `prompt_version`, oldest first."""
    rows = await db.fetch(_PENDING, instrument_id, start, end, prompt_version, list(methods))
    return [Article(**dict(r)) for r in rows]


async def store_verdicts(db: Db, rows: Sequence[tuple]) -> None:
    """Insert verdict rows (fingerprint, instrument, cache key, method, model, prompt version,
    sentiment, label, relevance, gist); a row stored before is left as it is."""
    await db.executemany(_INSERT, list(rows))


@dataclass(frozen=True, slots=True)
class DailySentiment:
    """The average verdict of an instrument's articles published on one UTC day."""

    day: datetime
    sentiment: float
    articles: int


_DAILY = """
    SELECT day, avg(sentiment) AS sentiment, sum(verdicts)::int AS articles
    FROM (SELECT date_trunc('day', a.published_at) AS day, avg(x.sentiment) AS sentiment,
                 count(*) AS verdicts
          FROM analyses x JOIN articles a ON a.fingerprint = x.fingerprint
          WHERE x.instrument_id = $1 AND a.published_at >= now() - make_interval(days => $2)
          GROUP BY 1, COALESCE(a.story_id, a.fingerprint)) per_story
    GROUP BY 1 ORDER BY 1"""


async def daily_sentiment(db: Db, instrument_id: str, days: int) -> list[DailySentiment]:
    """Per day of the last `days` with analysed articles of the instrument, oldest first:
    their average sentiment (a story's verdicts averaged first: one vote per story,
    `core.stories`) and how many verdicts."""
    return [DailySentiment(**dict(r)) for r in await db.fetch(_DAILY, instrument_id, days)]

"""Article verdicts: the articles still to analyse and storing verdicts (idempotent by key)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from core.models import Article

Db = asyncpg.Connection | asyncpg.Pool

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

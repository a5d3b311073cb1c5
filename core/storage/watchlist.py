"""Reading the watchlist as one table: each instrument's last daily closes (two, or as many
as its sparkline shows), its recent sentiment and its latest published report, in one
set-based query for any number of instruments (no query per instrument)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from core.storage.db import Db

SENTIMENT_DAYS = 7
"""The sentiment shown is the average of the newest day with analysed articles this recent."""
MAX_SPARK = 90
"""The most daily closes a row's sparkline may ask for."""

# Closes are split-adjusted as `GET /bars` adjusts them by default (`core.adjust`): a bar
# traded before a split's ex-date is divided by its ratio, so the change across a split
# is the price's, not the split's. A bar's trading day is its ts in the exchange's zone.
_WATCHLIST = """
WITH page AS (
    SELECT id, name, exchange, currency, timezone, symbols, count(*) OVER () AS total
    FROM instruments WHERE $4::text[] IS NULL OR id = ANY($4::text[])
    ORDER BY id LIMIT $1 OFFSET $2
), daily AS (
    SELECT instrument_id, day, avg(story_mood) AS mood FROM (  -- one vote per story
        SELECT x.instrument_id, date_trunc('day', a.published_at) AS day,
               avg(x.sentiment) AS story_mood
        FROM articles a
        JOIN analyses x ON x.fingerprint = a.fingerprint
        WHERE a.published_at >= now() - make_interval(days => $3)
          AND x.instrument_id IN (SELECT id FROM page)
        GROUP BY 1, 2, COALESCE(a.story_id, a.fingerprint)) per_story
    GROUP BY 1, 2
), mood AS (
    SELECT d.instrument_id, d.day, d.mood AS sentiment
    FROM daily d
    JOIN (SELECT instrument_id, max(day) AS day FROM daily GROUP BY 1) newest
      USING (instrument_id, day)
)
SELECT p.id, p.name, p.exchange, p.currency, p.symbols, p.total,
       lb.ts[1] AS last_ts, lb.close[1] AS last, lb.ts[2] AS previous_ts, lb.close[2] AS previous,
       coalesce(lb.close[1:$5], '{}') AS closes,
       m.sentiment, m.day AS sentiment_day,
       r.id AS report_id, r.rating, r.sentiment AS report_sentiment,
       r.published_at AS report_at
FROM page p
LEFT JOIN LATERAL (
    SELECT array_agg(t.ts ORDER BY t.ts DESC) AS ts,
           array_agg(t.close ORDER BY t.ts DESC) AS close
    FROM (
        SELECT b.ts, b.close / coalesce((
            SELECT exp(sum(ln(ca.ratio))) FROM corporate_actions ca
            WHERE ca.instrument_id = p.id AND ca.kind = 'split' AND ca.ratio > 0
              AND ca.ex_date > (b.ts AT TIME ZONE p.timezone)::date), 1) AS close
        FROM bars b
        WHERE b.instrument_id = p.id AND b.interval = '1d' AND b.close IS NOT NULL
        ORDER BY b.ts DESC LIMIT greatest(2, $5::int)  -- the sparkline's, from the same scan
    ) t
) lb ON true
LEFT JOIN mood m ON m.instrument_id = p.id
LEFT JOIN LATERAL (
    SELECT id, rating, sentiment, published_at FROM reports
    WHERE instrument_id = p.id AND status = 'published'
    ORDER BY published_at DESC LIMIT 1
) r ON true
ORDER BY p.id
"""


@dataclass(frozen=True, slots=True)
class WatchlistEntry:
    """One instrument of the watchlist table (see `watchlist`)."""

    id: str
    name: str
    exchange: str
    currency: str
    symbols: dict[str, str]
    last_ts: datetime | None
    last: float | None
    previous_ts: datetime | None
    previous: float | None
    sentiment: float | None
    sentiment_day: datetime | None
    report_id: uuid.UUID | None
    rating: str | None
    report_sentiment: float | None
    report_at: datetime | None
    sparkline: list[float]
    """The newest `spark` daily closes (split-adjusted), oldest first; empty when not asked."""


_COUNT = "SELECT count(*) FROM instruments WHERE $1::text[] IS NULL OR id = ANY($1::text[])"


async def watchlist(
    db: Db,
    limit: int,
    offset: int = 0,
    sentiment_days: int = SENTIMENT_DAYS,
    ids: list[str] | None = None,
    spark: int = 0,
) -> tuple[int, list[WatchlistEntry]]:
    """(instruments in all, one page of entries ordered by id); only `ids` when given.

    An entry: `id`, `name`, `exchange`, `currency`; `last`/`last_ts` and `previous`/
    `previous_ts`, the two newest daily closes (split-adjusted, None when not stored);
    `sentiment` on `sentiment_day`, the newest day with analysed articles in the last
    `sentiment_days`; `rating`, `report_sentiment`, `report_at`, `report_id` of the latest
    published report; `sparkline`, the newest `spark` (≤ MAX_SPARK) daily closes, oldest
    first, split-adjusted as `last` is (read in the same scan of the bars).
    """
    spark = max(0, min(spark, MAX_SPARK))
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await watchlist(conn, limit, offset, sentiment_days, ids, spark)
    # asyncpg prepares every query, and after five runs Postgres may switch to a generic
    # plan: for this one it guesses a one-row page and probes articles once per analysis
    # of every instrument (measured 3-4x slower at 700 instruments). Plan for the values.
    async with db.transaction(readonly=True):
        await db.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        rows = await db.fetch(_WATCHLIST, limit, offset, sentiment_days, ids, spark)
        if rows:
            total = rows[0]["total"]
        else:  # past the end: count anyway
            total = await db.fetchval(_COUNT, ids)
    return total, [_entry(r) for r in rows]


def _entry(r: asyncpg.Record) -> WatchlistEntry:
    fields = {k: v for k, v in r.items() if k not in ("total", "closes")}
    return WatchlistEntry(**fields, sparkline=r["closes"][::-1])

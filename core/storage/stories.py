"""Story ids in Postgres: assigning them to new articles, reading a page collapsed by story.

`assign` runs in the transaction that writes the articles, after the write, under a
transaction-scoped advisory lock: two collect workers saving two variants of one story at
once queue there, and the second sees the first's committed signatures (READ COMMITTED
takes a fresh snapshot per statement), so both end in one story. Assigning is idempotent:
articles that have a story already keep it, and their signatures are not written again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from core.models import Article
from core.storage.db import Db
from core.storage.paging import After, Page, page
from core.stories import WINDOW, Candidate, Signature, choose_story, signature

STORY_LOCK_KEY = 0x5707_1E5  # arbitrary but fixed: every story assigner contends on it

_LOCK = "SELECT pg_advisory_xact_lock($1)"
_UNASSIGNED = """
    SELECT fingerprint FROM articles WHERE fingerprint = ANY($1::text[]) AND story_id IS NULL"""
_CANDIDATES = """
    SELECT s.fingerprint, s.language, s.minhash, s.figures, a.story_id, s.published_at,
           ARRAY(SELECT x.instrument_id FROM article_instruments x
                 WHERE x.fingerprint = s.fingerprint) AS instruments
    FROM story_signatures s JOIN articles a ON a.fingerprint = s.fingerprint
    WHERE s.fingerprint IN (
        SELECT b.fingerprint FROM unnest($1::smallint[], $2::bigint[]) AS q(band, hash)
        JOIN story_bands b ON b.band = q.band AND b.hash = q.hash)
      AND s.published_at >= $3 AND s.published_at <= $4 AND a.story_id IS NOT NULL"""
_SET = """
    UPDATE articles a SET story_id = u.story_id
    FROM unnest($1::text[], $2::text[]) AS u(fingerprint, story_id)
    WHERE a.fingerprint = u.fingerprint AND a.story_id IS NULL"""
_SIGNATURES = """
    INSERT INTO story_signatures (fingerprint, language, published_at, minhash, figures)
    SELECT f, lang, at, h, string_to_array(figs, ' ')
    FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bytea[], $5::text[])
        AS u(f, lang, at, h, figs)
    ON CONFLICT DO NOTHING"""
_BANDS = """
    INSERT INTO story_bands (band, hash, fingerprint)
    SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::text[]) ORDER BY 1, 2, 3
    ON CONFLICT DO NOTHING"""


async def assign(conn: asyncpg.Connection, articles: Sequence[Article]) -> dict[str, str]:
    """Give the stored `articles` that have no story yet one (oldest first, each joining
    its most similar earlier article's story, or starting its own); fingerprint → story id
    of those assigned now. Call inside the transaction that wrote them."""
    if not articles:
        return {}
    await conn.execute(_LOCK, STORY_LOCK_KEY)
    by_fp = {a.fingerprint: a for a in articles}
    todo = {r["fingerprint"] for r in await conn.fetch(_UNASSIGNED, list(by_fp))}
    new = sorted((by_fp[f] for f in todo), key=lambda a: (a.published_at, a.fingerprint))
    if not new:
        return {}
    sigs = {a.fingerprint: signature(a.title, a.summary, a.language) for a in new}
    bands = {fp: s.bands for fp, s in sigs.items()}
    pairs = sorted({(i, h) for bs in bands.values() for i, h in enumerate(bs)})
    times = [a.published_at for a in new]
    index: dict[tuple[int, int], list[Candidate]] = defaultdict(list)
    for c in await _candidates(conn, pairs, min(times) - WINDOW, max(times) + WINDOW):
        for key in enumerate(c.signature.bands):
            index[key].append(c)
    out: dict[str, str] = {}
    for a in new:
        found = {c.fingerprint: c for key in enumerate(bands[a.fingerprint]) for c in index[key]}
        sig = sigs[a.fingerprint]
        insts = frozenset(a.instrument_ids)
        out[a.fingerprint] = choose_story(a.fingerprint, sig, found.values(), a.published_at, insts)
        mine = Candidate(a.fingerprint, sig, out[a.fingerprint], a.published_at, insts)
        for key in enumerate(bands[a.fingerprint]):
            index[key].append(mine)
    await _store(conn, new, sigs, bands, out)
    return out


async def _candidates(
    conn: asyncpg.Connection, pairs: list[tuple[int, int]], start: datetime, end: datetime
) -> list[Candidate]:
    rows = await conn.fetch(_CANDIDATES, [p[0] for p in pairs], [p[1] for p in pairs], start, end)
    return [
        Candidate(f, Signature.from_bytes(lang, data, figs), story, at, frozenset(insts))
        for f, lang, data, figs, story, at, insts in map(tuple, rows)
    ]


async def _store(
    conn: asyncpg.Connection,
    new: list[Article],
    sigs: dict[str, Signature],
    bands: dict[str, list[int]],
    out: dict[str, str],
) -> None:
    fps = [a.fingerprint for a in new]
    await conn.execute(_SET, fps, [out[f] for f in fps])
    await conn.execute(
        _SIGNATURES,
        fps,
        [a.language for a in new],
        [a.published_at for a in new],
        [sigs[f].to_bytes() for f in fps],
        [" ".join(sorted(sigs[f].figures)) for f in fps],  # a text[] per row, via unnest
    )
    rows = [(i, h, f) for f in fps for i, h in enumerate(bands[f])]
    await conn.execute(_BANDS, *(list(col) for col in zip(*rows, strict=True)))


@dataclass(frozen=True, slots=True)
class StoryItem:
    """A story as a collapsed news page shows it: its newest article and every source."""

    article: Article
    story_id: str
    sources: int
    urls: list[str]


_STORY_PAGE = """
    WITH linked AS (
        SELECT a.*, COALESCE(a.story_id, a.fingerprint) AS story
        FROM articles a JOIN article_instruments ai ON ai.fingerprint = a.fingerprint
        WHERE ai.instrument_id = $1),
    firsts AS (
        SELECT DISTINCT ON (story) story, fingerprint, url, title, summary, published_at,
               provider, language, source
        FROM linked ORDER BY story, published_at DESC, fingerprint DESC),
    grouped AS (
        SELECT story, count(*) AS sources, array_agg(url ORDER BY published_at, fingerprint) AS urls
        FROM linked GROUP BY story)
    SELECT f.*, g.sources, g.urls
    FROM firsts f JOIN grouped g USING (story)
    WHERE ($2::timestamptz IS NULL OR (f.published_at, f.fingerprint) < ($2, $3))
    ORDER BY f.published_at DESC, f.fingerprint DESC LIMIT $4"""


async def story_page(
    db: Db, instrument_id: str, after: After | None, limit: int
) -> Page[StoryItem]:
    """The instrument's news one item per story (its newest article, with the count and
    URLs of all its articles linked to the instrument), newest first, as `news_page` pages."""
    rows = await db.fetch(
        _STORY_PAGE, instrument_id, after.at if after else None, after.key if after else "",
        limit + 1,
    )  # fmt: skip
    fields = ("fingerprint", "url", "title", "summary", "published_at", "provider", "language",
              "source")  # fmt: skip
    items = [
        StoryItem(Article(**{k: r[k] for k in fields}), r["story"], r["sources"], list(r["urls"]))
        for r in rows
    ]
    return page(items, limit)


async def story_of(db: Db, fingerprint: str) -> str | None:
    """An article's story id (None: not stored, or stored before stories)."""
    return await db.fetchval("SELECT story_id FROM articles WHERE fingerprint = $1", fingerprint)

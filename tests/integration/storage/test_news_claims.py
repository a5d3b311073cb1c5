"""`save_news` with dedupe claims that a dead writer left behind: the database decides."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from core.collection import save_news
from core.storage.dedupe import MemoryDedupe
from tests.unit.storage.samples import T0, article


async def test_claims_without_rows_are_written_and_stored_rows_are_not(
    conn: asyncpg.Connection,
) -> None:
    dedupe = MemoryDedupe(3600)
    stored = [article(f"s{i}", "AAPL", published_at=T0 + timedelta(minutes=i)) for i in range(3)]
    assert (await save_news(conn, None, "AAPL", "newsapi", stored, dedupe)).unique == 3
    orphans = [article(f"o{i}", "AAPL", published_at=T0 + timedelta(hours=i)) for i in range(4)]
    # A writer claimed these, then died before its commit: the claims outlive it.
    await dedupe.first_seen([f"{a.fingerprint}:AAPL" for a in orphans])
    new = article("n0", "AAPL", published_at=T0 + timedelta(days=1))
    batch = [*stored, *orphans, new, orphans[0]]  # a repeat within the fetch too
    announced: list = []
    counts = await save_news(conn, None, "AAPL", "newsapi", batch, dedupe, fresh_out=announced)
    assert (counts.fetched, counts.unique, counts.known, counts.repeated) == (9, 5, 3, 1)
    assert counts.saved == 5
    assert sorted(a.fingerprint for a in announced) == ["n0", "o0", "o1", "o2", "o3"]
    linked = await conn.fetchval(
        "SELECT count(*) FROM article_instruments WHERE instrument_id = 'AAPL'"
    )
    assert linked == 8
    again = await save_news(conn, None, "AAPL", "newsapi", batch, dedupe)
    assert (again.unique, again.known, again.saved) == (0, 8, 0)

"""The instrument chart's markers from a real Postgres: one per story with its verdict,
and filings, in a time range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from core.models import Article, Disclosure
from core.storage import analyses, chart_marks
from core.storage.writers import write_articles, write_disclosures

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


def _article(fp: str, at: datetime, instrument: str = "AAPL") -> Article:
    return Article(fp, f"https://x/{fp}", f"title {fp}", None, at, "newsapi", "en",
                   instrument_ids=(instrument,))  # fmt: skip


async def test_a_story_is_one_marker_with_its_verdict_and_filings_are_in_range(
    conn: asyncpg.Connection,
) -> None:
    await write_articles(
        conn,
        [_article("a1", T0), _article("a2", T0 + timedelta(hours=2)),
         _article("b1", T0 + timedelta(days=1)), _article("c1", T0 + timedelta(days=2)),
         _article("old", T0 - timedelta(days=30)), _article("m1", T0, "MSFT")],
    )  # fmt: skip
    await conn.execute("UPDATE articles SET story_id = 's-a' WHERE fingerprint IN ('a1', 'a2')")
    await analyses.store_verdicts(
        conn,
        [("a1", "AAPL", "k1", "lexicon", None, "v1", 0.6, "positive", 1.0, None),
         ("a2", "AAPL", "k1", "lexicon", None, "v1", 0.2, "positive", 1.0, None),
         ("b1", "AAPL", "k1", "lexicon", None, "v1", -0.5, "negative", 1.0, None)],
    )  # fmt: skip
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=3)
    marks = await chart_marks.story_marks(conn, "AAPL", start, end, 10)
    assert [m.fingerprint for m in marks] == ["c1", "b1", "a2"]  # newest first, a story once
    c1, b1, a2 = marks
    assert (a2.story_id, a2.sources, a2.label) == ("s-a", 2, "positive")
    assert abs((a2.sentiment or 0) - 0.4) < 1e-9
    assert (b1.story_id, b1.sources, b1.sentiment, b1.label) == ("b1", 1, -0.5, "negative")
    assert (c1.sentiment, c1.label) == (None, None)  # not analysed yet
    assert [m.fingerprint for m in await chart_marks.story_marks(conn, "AAPL", start, end, 1)] == [
        "c1"
    ]

    filings = [
        Disclosure("dart", f"r{i}", "AAPL", f"filing {i}", T0 + timedelta(days=i), None, None)
        for i in range(3)
    ]
    await write_disclosures(conn, filings)
    found = await chart_marks.filing_marks(conn, "AAPL", T0, T0 + timedelta(days=2), 10)
    assert [d.provider_id for d in found] == ["r1", "r0"]
    assert await chart_marks.filing_marks(conn, "MSFT", start, end, 10) == []

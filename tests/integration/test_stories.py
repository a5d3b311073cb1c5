"""One story, many sources, on real Postgres: the save path gives two providers' variants of a
story one id (also when two workers save them at once), analysis counts the story once, and
the news route collapses it into one item with two sources."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from configs.settings import load_settings
from core.analysis.facts import house_view, verdict_facts
from core.analysis.prompts import PROMPT_VERSION
from core.collection import save_news
from core.fingerprint import article_fingerprint
from core.models import Article
from core.storage import stories
from core.storage.analyses import store_verdicts
from core.storage.api_keys import create_key
from core.storage.db import connect, create_pool, sync_instruments
from core.storage.dedupe import MemoryDedupe
from core.storage.facts import read_verdicts
from core.storage.migrations import migrate
from core.storage.writers import write_articles
from core.wait import apoll
from serve_app.app import build_api
from serve_app.context import AppContext

T0 = datetime(2026, 1, 6, 14, 0, tzinfo=UTC)
LEAD = (
    "Apple Inc on Thursday reported quarterly revenue above Wall Street estimates, helped by "
    "strong demand for its latest iPhone models in China and the United States."
)


def article(url: str, title: str, summary: str | None, provider: str, minutes: int) -> Article:
    return Article(
        article_fingerprint(url, title), url, title, summary, T0 + timedelta(minutes=minutes),
        provider, "en", None, ("AAPL",),
    )  # fmt: skip


WIRE = article(
    "https://www.reuters.com/technology/apple-beats-estimates-2026-01-06/",
    "Apple beats quarterly revenue estimates on strong iPhone demand", LEAD, "newsapi", 0,
)  # fmt: skip
PORTAL = article(
    "https://finance.yahoo.com/news/apple-beats-quarterly-revenue-estimates-140512.html",
    "Apple beats quarterly revenue estimates on strong iPhone demand - Yahoo Finance",
    LEAD.replace("the United States", "the U.S."), "rss", 25,
)  # fmt: skip
OTHER = article(
    "https://www.reuters.com/technology/apple-eu-fine-2026-01-06/",
    "Apple faces EU antitrust fine over music streaming rules",
    "Apple is set to be fined by European Union antitrust regulators for preventing music "
    "streaming rivals from telling users about cheaper options outside its App Store.",
    "newsapi", 60,
)  # fmt: skip


@pytest.fixture
async def db(fresh_dsn: str):
    """A migrated database with the watchlist's instruments; a connection and a pool."""
    settings = load_settings(database_url=fresh_dsn)
    conn = await connect(fresh_dsn)
    await migrate(conn)
    await sync_instruments(conn, [i.to_instrument() for i in settings.watchlist.instruments])
    pool = await create_pool(fresh_dsn, max_size=8)
    yield settings, conn, pool
    await pool.close()
    await conn.close()


async def test_two_providers_variants_are_one_story_counted_once_and_collapsed(db) -> None:
    settings, conn, _ = db
    await save_news(conn, None, "AAPL", "newsapi", [WIRE, OTHER], MemoryDedupe(60))
    await save_news(conn, None, "AAPL", "rss", [PORTAL], MemoryDedupe(60))
    ids = {a.fingerprint: await stories.story_of(conn, a.fingerprint) for a in (WIRE, PORTAL)}
    assert set(ids.values()) == {WIRE.fingerprint}  # the first article names the story
    assert await stories.story_of(conn, OTHER.fingerprint) == OTHER.fingerprint
    # Saving all again (another run, fresh dedupe) changes no story.
    await save_news(conn, None, "AAPL", "rss", [PORTAL, OTHER, WIRE], MemoryDedupe(60))
    assert await stories.story_of(conn, PORTAL.fingerprint) == WIRE.fingerprint

    # Analysis: the story is one vote (the mean of its two scores), not two.
    scores = {WIRE: 0.8, PORTAL: 0.4, OTHER: -0.6}
    await store_verdicts(conn, [
        (a.fingerprint, "AAPL", f"k-{a.fingerprint}", "lexicon", None, PROMPT_VERSION, s,
         "positive" if s > 0 else "negative", None, None)
        for a, s in scores.items()
    ])  # fmt: skip
    verdicts = await read_verdicts(conn, "AAPL", T0, T0 + timedelta(days=1), PROMPT_VERSION)
    assert len(verdicts) == 3
    count, _ = verdict_facts(verdicts, "AAPL")
    assert count.value == 3 and count.details["stories"] == 2 and count.details["positive"] == 1
    assert house_view(verdicts, []).sentiment == pytest.approx(0.0)  # (0.6 - 0.6) / 2, not 0.2

    # The API: three articles, or two stories, the first with both sources.
    _, key = await create_key(conn, "reader", "read")
    app = build_api()
    app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            http.headers["Authorization"] = f"Bearer {key}"
            plain = (await http.get("/api/v1/instruments/AAPL/news")).json()
            assert len(plain["articles"]) == 3
            answer = await http.get("/api/v1/instruments/AAPL/news?collapse=story&limit=1")
            assert answer.status_code == 200, answer.text
            first = answer.json()
            assert [a["sources"] for a in first["articles"]] == [1]  # OTHER is the newest
            after = f"collapse=story&limit=1&cursor={first['next_cursor']}"
            second = (await http.get(f"/api/v1/instruments/AAPL/news?{after}")).json()
            (story,) = second["articles"]
            assert story["story_id"] == WIRE.fingerprint and story["sources"] == 2
            assert story["id"] == PORTAL.fingerprint  # the story's newest article stands for it
            assert story["urls"] == [WIRE.url, PORTAL.url] and second["next_cursor"] is None
            bad = await http.get("/api/v1/instruments/AAPL/news?collapse=words")
            assert bad.status_code == 422 and "collapse" in bad.text
    finally:
        await app.state.context.close()


async def test_a_worker_saving_a_variant_waits_for_the_other_and_joins_its_story(db) -> None:
    _, conn, pool = db
    async with pool.acquire() as other, pool.acquire() as watcher:
        tx = conn.transaction()
        await tx.start()
        await write_articles(conn, [WIRE])
        assert await stories.assign(conn, [WIRE]) == {WIRE.fingerprint: WIRE.fingerprint}
        saving = asyncio.create_task(
            save_news(other, None, "AAPL", "rss", [PORTAL], MemoryDedupe(60))
        )
        # The second worker queues on the story lock while the first has not committed
        # (watched from a third connection: a transaction sees one snapshot of the activity).
        waiting = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event = 'advisory' AND datname = current_database()"
        )
        await apoll(lambda: watcher.fetchval(waiting), timeout_s=30)
        assert not saving.done()
        await tx.commit()
        await saving
    assert await stories.story_of(conn, PORTAL.fingerprint) == WIRE.fingerprint


async def test_concurrent_saves_of_many_variants_converge(db) -> None:
    _, conn, pool = db
    pairs = []
    for i, (event, detail) in enumerate([
        ("Nvidia forecasts revenue above estimates", "on booming demand for AI chips"),
        ("Microsoft to cut 10,000 jobs", "as cloud growth slows across its business"),
        ("Tesla recalls 120,000 vehicles", "over a seat belt warning chime fault"),
        ("Exxon to buy Pioneer for $59.5 billion", "in an all-stock deal, its largest in years"),
    ]):  # fmt: skip
        lead = f"{event} {detail}, the company said on Tuesday in a statement to investors."
        a = article(f"https://www.reuters.com/x/{i}", event, lead, "newsapi", 2 * i)
        b = article(f"https://finance.yahoo.com/y/{i}", f"UPDATE 1-{event}", lead, "rss", 2 * i + 1)
        pairs.append((a, b))

    async def save(provider: str, item: Article) -> None:
        async with pool.acquire() as c:
            await save_news(c, None, "AAPL", provider, [item], MemoryDedupe(60))

    await asyncio.gather(*(save(p.provider, p) for pair in pairs for p in pair))
    for a, b in pairs:
        ids = {
            await stories.story_of(conn, a.fingerprint),
            await stories.story_of(conn, b.fingerprint),
        }
        assert len(ids) == 1 and None not in ids
    every = {await stories.story_of(conn, p.fingerprint) for pair in pairs for p in pair}
    assert len(every) == len(pairs)

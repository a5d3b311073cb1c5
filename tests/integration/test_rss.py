"""The rss provider on the session's Ray cluster against the sim: news collected through
the router's batch path (as a collect cycle's plan sends it), linked to the right
instruments and stored; a second run gets 304s and stores nothing new."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from actors import NAMESPACE
from actors.providers import ROUTER_NAME, provider_actor_name, router_handle
from configs.settings import load_settings
from core.models import Capability
from core.storage.db import sync_instruments
from core.storage.writers import write_articles
from sim.server import SimServer
from tests.support import kill_actor

NAMES = {  # what the sim's stories call each watchlist instrument
    "AAPL": ("Apple",),
    "MSFT": ("Microsoft",),
    "NVDA": ("NVIDIA", "Nvidia"),
    "005930.KS": ("삼성전자", "Samsung Electronics"),
    "000660.KS": ("SK하이닉스", "SK hynix", "SK Hynix"),
}


async def test_rss_collects_links_and_then_gets_304s(
    ray_cluster, sim: SimServer, migrated_pool: asyncpg.Pool
) -> None:
    for name in (ROUTER_NAME, provider_actor_name("rss")):
        kill_actor(name, NAMESPACE)  # fresh validators: the first run downloads every feed
    settings = load_settings(config_dir=ray_cluster.config_dir)
    feeds = settings.providers.providers["rss"].feeds
    instruments = [i.to_instrument() for i in settings.watchlist.instruments if i.id in NAMES]
    end = datetime.now(UTC) + timedelta(minutes=1)
    start = end - timedelta(days=7)
    router = router_handle()
    statuses = lambda: dict(sim.stats()["rss"]["by_status"])  # noqa: E731

    before = statuses()
    first = await router.fetch_batch.remote("rss", Capability.NEWS, instruments, start, end)
    assert first.provider == "rss"
    assert statuses().get("200", 0) - before.get("200", 0) == len(feeds)
    by_id = first.result
    assert by_id["AAPL"] and by_id["005930.KS"] and by_id["000660.KS"]
    for iid, articles in by_id.items():
        for article in articles:
            text = f"{article.title} {article.summary or ''}"
            assert any(n in text for n in NAMES[iid]), (iid, article.title)
            assert article.instrument_ids == (iid,) and article.provider == "rss"
    articles = [a for found in by_id.values() for a in found]
    async with migrated_pool.acquire() as conn:
        await sync_instruments(conn, instruments)
        stored = await write_articles(conn, articles)
        assert stored.inserted == len({a.fingerprint for a in articles}) > 0
        count = await conn.fetchval("SELECT count(*) FROM articles")

    again = await router.fetch_batch.remote("rss", Capability.NEWS, instruments, start, end)
    assert statuses().get("304", 0) - before.get("304", 0) == len(feeds)
    assert all(found == [] for found in again.result.values())
    async with migrated_pool.acquire() as conn:
        await write_articles(conn, [a for found in again.result.values() for a in found])
        assert await conn.fetchval("SELECT count(*) FROM articles") == count

"""The report routes show a report's facts, our rating beside the model's, and dropped claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from configs.settings import load_settings
from core.analysis.grounding import numbers_grounded_share
from core.analysis.pipeline import analyze_articles, write_report
from core.collection import save_news
from core.providers import NewsApiClient, YahooClient
from core.storage.api_keys import create_key
from core.storage.db import connect, sync_instruments
from core.storage.dedupe import MemoryDedupe
from core.storage.migrations import migrate
from core.storage.writers import write_bars
from serve_app.app import build_api
from serve_app.context import AppContext
from sim.server import SimServer

START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)


async def test_report_routes_show_facts_and_both_ratings(fresh_dsn: str, sim: SimServer) -> None:
    sim.clear_faults()
    settings = load_settings(database_url=fresh_dsn)
    conn = await connect(fresh_dsn)
    await migrate(conn)
    instruments = {i.id: i.to_instrument() for i in settings.watchlist.instruments}
    await sync_instruments(conn, instruments.values())
    aapl = instruments["AAPL"]
    yahoo, newsapi = YahooClient(sim.urls["yahoo"]), NewsApiClient(sim.urls["newsapi"], api_key="k")
    await write_bars(conn, (await yahoo.fetch_bars(aapl, START - timedelta(days=120), END)).bars)
    articles = await newsapi.fetch_news(aapl, START, END, limit=100)
    await save_news(conn, None, "AAPL", "newsapi", articles, MemoryDedupe(60))
    await yahoo.aclose()
    await newsapi.aclose()
    await analyze_articles(conn, aapl, START, END, None, "en")
    written = await write_report(conn, aapl, START, END, "60d", None, "en")
    _, key = await create_key(conn, "reader", "read")
    app = build_api()
    app.state.context = AppContext(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api",
        headers={"Authorization": f"Bearer {key}"},
    ) as http:  # fmt: skip
        listed = (await http.get("/api/v1/reports", params={"instrument": "AAPL"})).json()
        one = await http.get(f"/api/v1/reports/{written['report_id']}")
    await app.state.context.close()
    await conn.close()
    summary = listed["reports"][0]
    assert summary["rating"] == written["rating"] and summary["model_rating"] is None
    assert summary["rating_disagrees"] is False and summary["dropped_claims"] == 0
    assert one.status_code == 200, one.text
    report = one.json()
    kinds = {f["kind"] for f in report["facts"]}
    assert {"return_1m", "range_52w", "articles", "sentiment"} <= kinds
    assert all(f["id"] and f["text"] and f["source"]["keys"] for f in report["facts"])
    assert report["citations"] and all(c["title"] for c in report["citations"])
    assert all(c["kind"] == "headline" and c["sources"] for c in report["positives"])
    assert report["coverage"]["house_view"]["rating"] == report["rating"]
    assert numbers_grounded_share(report) == 1.0

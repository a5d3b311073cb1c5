"""Analysis on real parts: news from the sim, Postgres, the gateway on the sim's LLM."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from configs.sections import LlmEndpoint, ModelPrice, RetryPolicy
from configs.settings import load_settings
from core.analysis.pipeline import analyze_articles, write_report
from core.collection import save_news
from core.llm.gateway import LLMGateway
from core.providers import NewsApiClient
from core.storage.db import connect, create_pool, sync_instruments
from core.storage.dedupe import MemoryDedupe
from core.storage.migrations import migrate
from sim.server import SimServer

START, END = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 15, tzinfo=UTC)
PRICES = {"sim-llm": ModelPrice(input_per_mtok=0.10, output_per_mtok=0.40)}
RETRY = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.05, deadline_s=20)


@pytest.fixture
async def news_db(fresh_dsn: str, sim: SimServer):
    """A migrated database holding two weeks of AAPL and Samsung news from the sim."""
    sim.clear_faults()
    settings = load_settings()
    instruments = {i.id: i.to_instrument() for i in settings.watchlist.instruments}
    conn = await connect(fresh_dsn)
    await migrate(conn)
    await sync_instruments(conn, instruments.values())
    client = NewsApiClient(sim.urls["newsapi"], api_key="k")
    for ticker in ("AAPL", "005930.KS"):
        articles = await client.fetch_news(instruments[ticker], START, END, limit=200)
        await save_news(conn, None, ticker, "newsapi", articles, MemoryDedupe(60))
    await client.aclose()
    pool = await create_pool(fresh_dsn, max_size=8)
    yield conn, pool, instruments
    sim.clear_faults()
    await pool.close()
    await conn.close()


def _gateway(
    pool, sim: SimServer, daily_usd: float = 1.0, structured: str = "json_schema"
) -> LLMGateway:
    # With a schema sent, the sim's repair answers a minimal instance of it, whose ids the
    # schema's enum makes valid; `json_object` leaves the repair to a weak model's devices.
    endpoint = LlmEndpoint(
        name="sim", base_url=sim.urls["llm"] + "/v1", model="sim-llm", rpm=6000,
        max_concurrency=8, timeout_s=10, structured=structured,
    )  # fmt: skip
    return LLMGateway(
        [(endpoint, "k")], PRICES, pool, daily_usd=daily_usd, per_call_usd=0.05, retry=RETRY
    )


async def test_articles_then_report_then_rerun_costs_nothing(news_db, sim) -> None:
    conn, pool, instruments = news_db
    gateway = _gateway(pool, sim)
    aapl = instruments["AAPL"]
    counts = await analyze_articles(conn, aapl, START, END, gateway.complete, "en", "t1")
    assert counts["analysed"] == counts["articles"] - counts["skipped"] > 10
    assert 0 < counts["llm_calls"] < counts["analysed"]  # several articles per prompt
    assert counts["failed"] == 0 and counts["cost_usd"] > 0

    report = await write_report(conn, aapl, START, END, "14d", gateway.complete, "en", "t1")
    assert report["method"] == "llm" and report["report_id"]
    row = await conn.fetchrow("SELECT * FROM reports WHERE id = $1::uuid", report["report_id"])
    assert row["status"] == "published" and row["published_at"] is not None
    linked = {
        r["fingerprint"]
        for r in await conn.fetch(
            "SELECT fingerprint FROM article_instruments WHERE instrument_id = 'AAPL'"
        )
    }
    assert row["citations"] and set(row["citations"]) <= linked
    for claim in [*row["positives"], *row["concerns"]]:
        assert set(claim["citations"]) <= linked

    calls = sim.stats()["llm"]["requests"]
    again = await analyze_articles(conn, aapl, START, END, gateway.complete, "en", "t2")
    assert (again["analysed"], again["llm_calls"], again["cost_usd"]) == (0, 0, 0.0)
    cached = await write_report(conn, aapl, START, END, "14d", gateway.complete, "en", "t2")
    assert cached == {"report_id": report["report_id"], "cached": True, "cost_usd": 0.0}
    assert sim.stats()["llm"]["requests"] == calls
    await gateway.aclose()


async def test_report_citing_unknown_ids_degrades_to_a_lexicon_report(news_db, sim) -> None:
    conn, pool, instruments = news_db
    gateway = _gateway(pool, sim, structured="json_object")
    aapl = instruments["AAPL"]
    await analyze_articles(conn, aapl, START, END, gateway.complete, "en")
    sim.set_faults("llm", {"bad_citation_rate": 1.0})
    report = await write_report(conn, aapl, START, END, "14d", gateway.complete, "en")
    assert report["method"] == "lexicon" and report["report_id"]
    assert "InvalidAnswer" in report["degraded"]
    row = await conn.fetchrow("SELECT * FROM reports WHERE id = $1::uuid", report["report_id"])
    assert row["status"] == "published" and "InvalidAnswer" in row["coverage"]["degraded"]
    assert "degraded" in row["summary"]
    await gateway.aclose()


async def test_invalid_article_answers_are_scored_by_the_lexicon_with_the_reason(
    news_db, sim
) -> None:
    conn, pool, instruments = news_db
    gateway = _gateway(pool, sim, structured="json_object")
    aapl = instruments["AAPL"]
    sim.set_faults("llm", {"bad_citation_rate": 1.0})  # every answer names an id not given
    counts = await analyze_articles(conn, aapl, START, END, gateway.complete, "en", "t-bad")
    assert counts["analysed"] == counts["lexicon"] == counts["articles"] - counts["skipped"] > 0
    assert counts["failed"] == 0 and "InvalidAnswer" in counts["degraded"]
    rows = await conn.fetch("SELECT method, gist FROM analyses WHERE instrument_id = 'AAPL'")
    assert {r["method"] for r in rows} == {"lexicon"}
    assert all(r["gist"].startswith("lexicon in place of the LLM: InvalidAnswer") for r in rows)
    paid = await pool.fetchval(
        "SELECT count(*) FROM llm_usage WHERE trace_id = 't-bad' AND cost_micro > 0"
    )
    assert paid == 2 * len(counts["errors"])  # each batch's answer and its repair cost money
    report = await write_report(
        conn, aapl, START, END, "14d", gateway.complete, "en", "t-bad", counts["degraded"]
    )
    assert report["method"] == "lexicon" and report["report_id"]
    sim.clear_faults()
    # with a valid model again, a re-run analyses them by the LLM: the fallback was no verdict
    again = await analyze_articles(conn, aapl, START, END, gateway.complete, "en")
    assert again["analysed"] == counts["analysed"] and again["lexicon"] == 0
    await gateway.aclose()


async def test_spent_budget_degrades_to_lexicon_and_says_so(news_db, sim) -> None:
    conn, pool, instruments = news_db
    gateway = _gateway(pool, sim, daily_usd=0.0001)  # about one batch
    samsung = instruments["005930.KS"]
    counts = await analyze_articles(conn, samsung, START, END, gateway.complete, "ko")
    assert counts["degraded"] and "budget" in counts["degraded"]
    assert counts["analysed"] == counts["articles"] - counts["skipped"]
    methods = dict(
        await conn.fetch(
            "SELECT method, count(*) FROM analyses WHERE instrument_id = '005930.KS' GROUP BY 1"
        )
    )
    assert methods.get("lexicon", 0) > 0
    report = await write_report(conn, samsung, START, END, "14일", gateway.complete, "ko")
    assert report["method"] == "lexicon" and "budget" in report["note"]
    summary = await conn.fetchval(
        "SELECT summary FROM reports WHERE id = $1::uuid", report["report_id"]
    )
    assert "어휘 기반 분석" in summary
    assert (await gateway.budget.state())["spent_usd"] <= 0.0001
    await gateway.aclose()


async def test_without_endpoint_lexicon_and_unsupported_text_is_skipped(news_db) -> None:
    conn, _, instruments = news_db
    await conn.execute(
        """INSERT INTO articles (fingerprint, url, title, summary, published_at, provider,
                                language)
           VALUES ('ja1', 'https://example.jp/1', 'アップル決算', '', '2024-03-05', 'newsapi',
                   'ja')"""
    )
    await conn.execute("INSERT INTO article_instruments VALUES ('ja1', 'AAPL')")
    counts = await analyze_articles(conn, instruments["AAPL"], START, END, None, "en")
    assert counts["method"] == "lexicon" and counts["skipped"] == 1
    assert counts["analysed"] == counts["articles"] - 1
    assert await conn.fetchval("SELECT count(*) FROM analyses WHERE fingerprint = 'ja1'") == 0
    report = await write_report(conn, instruments["AAPL"], START, END, "14d", None, "en")
    assert report["method"] == "lexicon" and report["rating"] in {
        "strong_sell", "sell", "hold", "buy", "strong_buy",
    }  # fmt: skip

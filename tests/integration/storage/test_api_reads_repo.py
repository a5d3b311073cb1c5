"""What the API reads, from a real Postgres, as models: job runs, LLM costs, news and
filings pages, reports and the sentiment timeline."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import asyncpg

from core.models import Article, Disclosure
from core.storage import (
    analyses,
    articles,
    bars,
    costs,
    disclosures,
    job_runs,
    llm_budget,
    llm_usage,
    progress,
    reports,
)
from core.storage.paging import After
from core.storage.writers import write_articles, write_disclosures
from tests.integration.storage.conftest import INSTRUMENTS

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


async def test_job_runs_newest_first_by_id_and_by_trace(conn: asyncpg.Connection) -> None:
    first = await job_runs.start_run(conn, "collect", "trace-a", {"tickers": ["AAPL"]})
    second = await job_runs.start_run(conn, "backfill", "trace-b", {})
    await job_runs.finish_run(conn, first, "succeeded", {"bars": 3})
    await progress.record_progress(conn, second, {"done": 1, "total": 4})
    recent = await job_runs.recent_runs(conn, None, 10)
    assert [r.id for r in recent] == [second, first]
    done = await job_runs.run_by_id(conn, first)
    assert done is not None and done == recent[1]
    assert (done.kind, done.status, done.counts, done.params) == (
        "collect", "succeeded", {"bars": 3}, {"tickers": ["AAPL"]}
    )  # fmt: skip
    assert done.finished_at is not None and done.progress is None
    assert [r.id for r in await job_runs.recent_runs(conn, "backfill", 10)] == [second]
    assert await job_runs.recent_runs(conn, None, 1) == recent[:1]
    traced = await job_runs.latest_run_of_trace(conn, "trace-b")
    assert traced is not None and traced.progress == {"done": 1, "total": 4}
    assert await job_runs.latest_run_of_trace(conn, "nope") is None
    tallies = {(t.kind, t.status): t.n for t in await job_runs.run_tallies(conn)}
    assert tallies == {("collect", "succeeded"): 1, ("backfill", "running"): 1}
    [active] = await progress.active_runs(conn)
    assert (active.id, active.kind, active.progress) == (second, "backfill", traced.progress)


async def test_llm_spend_per_day_and_todays_calls(conn: asyncpg.Connection) -> None:
    for status, cost in (("ok", 120), ("ok", 80), ("error", 0)):
        row = llm_usage.UsageRow("local", "m1", 10, 5, cost, None, "analyze", status)
        await llm_usage.insert(conn, row)
    today = await conn.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
    [spend] = await costs.spend_by_day(conn, today - timedelta(days=1), today)
    assert spend == costs.DaySpend(today, "m1", "local", 3, 30, 15, 200)
    assert await costs.spend_by_day(conn, date(2000, 1, 1), date(2000, 1, 2)) == []
    counts = {(c.status, c.n) for c in await costs.calls_today(conn)}
    assert counts == {("ok", 2), ("error", 1)}
    assert await costs.todays_budget(conn) is None
    await llm_budget.ensure_day(conn, today, 5_000)
    assert await costs.todays_budget(conn) == llm_budget.BudgetRow(5_000, 0, 0)


async def test_news_and_filings_come_in_keyset_pages(conn: asyncpg.Connection) -> None:
    news = [
        Article(f"fp{i}", f"https://x/{i}", f"t{i}", None, T0 + timedelta(hours=i), "newsapi",
                "en", instrument_ids=("AAPL",))
        for i in range(3)
    ]  # fmt: skip
    await write_articles(conn, news)
    first = await articles.news_page(conn, "AAPL", None, 2)
    assert first.more and [a.fingerprint for a in first.items] == ["fp2", "fp1"]
    last = first.items[-1]
    rest = await articles.news_page(conn, "AAPL", After(last.published_at, last.fingerprint), 2)
    assert not rest.more and rest.items == [replace(news[0], instrument_ids=())]  # links unread
    assert (await articles.news_page(conn, "MSFT", None, 2)).items == []
    links = {a.fingerprint: a.title for a in await articles.links(conn, ["fp1", "fp9"])}
    assert links == {"fp1": "t1"}
    filings = [Disclosure("dart", f"r{i}", "AAPL", f"f{i}", T0 + timedelta(days=i)) for i in (0, 1)]
    await write_disclosures(conn, filings)
    page = await disclosures.filings_page(conn, "AAPL", None, 5)
    assert not page.more and page.items == filings[::-1]
    after = After(filings[1].filed_at, "r1")
    assert (await disclosures.filings_page(conn, "AAPL", after, 5)).items == [filings[0]]


async def test_reports_listed_read_whole_and_the_sentiment_timeline(
    conn: asyncpg.Connection,
) -> None:
    assert await bars.instruments(conn) == sorted(INSTRUMENTS, key=lambda i: i.id)
    await write_articles(
        conn, [Article("fp1", "https://x/1", "t1", None, datetime.now(UTC), "newsapi", "en",
                       instrument_ids=("AAPL",))],
    )  # fmt: skip
    await analyses.store_verdicts(
        conn, [("fp1", "AAPL", "k1", "lexicon", None, "v1", 0.5, "positive", 1.0, None)]
    )
    [day] = await analyses.daily_sentiment(conn, "AAPL", 7)
    assert (day.sentiment, day.articles) == (0.5, 1)
    assert await analyses.daily_sentiment(conn, "MSFT", 7) == []
    assert await reports.latest_published_id(conn, "AAPL") is None
    new = reports.NewReport(
        "AAPL", "key-1", T0, T0 + timedelta(days=14), "lexicon", None, "v1", "en", "fine",
        [{"text": "up", "citations": ["fp1"]}], [], "steady", "hold", 0.1, {"articles": 1},
        ["fp1"],
    )  # fmt: skip
    report_id = await reports.insert_report(conn, new)
    latest = await reports.latest_published_id(conn, "AAPL")
    assert latest is not None and str(latest) == report_id
    whole = await reports.report_by_id(conn, latest)
    assert whole is not None
    assert (whole.cache_key, whole.positives, whole.citations, whole.status) == (
        "key-1", new.positives, ["fp1"], "published"
    )  # fmt: skip
    [listed] = await reports.published(conn, "AAPL", 5)
    assert (listed.id, listed.rating, listed.published_at) == (latest, "hold", whole.published_at)
    assert await reports.published(conn, "MSFT", 5) == []

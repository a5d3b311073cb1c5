"""The weekly report end to end on a real Postgres: a week of known rows (API counts added by
two flushes, job runs, LLM calls and budget, articles, watermarks), the job's run writing
one self-contained page with those numbers, a re-run replacing it, and the API listing and
serving it to admin keys only."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from configs.settings import load_settings
from core.jobs import WeeklyReportRequest
from core.storage import api_daily
from core.storage.api_keys import create_key
from core.storage.db import sync_instruments
from jobs.weekly_report import run
from serve_app.api_daily import DailyCounts
from serve_app.app import build_api
from serve_app.context import AppContext

pytestmark = pytest.mark.timeout(120)

END = date(2026, 11, 29)
START = END - timedelta(days=6)
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def _seed(pool: asyncpg.Pool, settings) -> None:
    async with pool.acquire() as conn:
        await sync_instruments(conn, [i.to_instrument() for i in settings.watchlist.instruments])
        runs = [  # (day, kind, status): 5 runs in the week, 2 failed; one outside the week
            (START, "collect", "succeeded"), (START, "collect", "failed"),
            (START + timedelta(days=2), "analyze", "succeeded"),
            (END, "backfill", "failed"), (END, "collect", "succeeded"),
            (END + timedelta(days=1), "collect", "failed"),
        ]  # fmt: skip
        await conn.executemany(
            "INSERT INTO job_runs (kind, trace_id, status, started_at) VALUES ($2, 't', $3, $1)",
            [(_at(d), k, s) for d, k, s in runs],
        )
        usage = [(START, "sim-llm", 1_250_000), (START, "gpt-4o-mini", 500_000),
                 (START + timedelta(days=3), "sim-llm", 750_000)]  # fmt: skip
        await conn.executemany(
            "INSERT INTO llm_usage (at, endpoint, model, tokens_in, tokens_out, cost_micro, "
            "purpose, status) VALUES ($1, 'e', $2, 10, 10, $3, 'analysis', 'ok')",
            [(_at(d), m, c) for d, m, c in usage],
        )
        await conn.execute(
            "INSERT INTO llm_budget (day, limit_micro, spent_micro) VALUES ($1, 3000000, 1750000)",
            START,
        )
        for i, (ticker, n) in enumerate((("MSFT", 4), ("AAPL", 2))):
            for k in range(n):
                fp = f"fp-{ticker}-{k}"
                await conn.execute(
                    "INSERT INTO articles (fingerprint, url, title, published_at, provider, "
                    "language) VALUES ($1, 'https://news.example/a', $2, $3, 'sim', 'en')",
                    fp, f"{ticker} news {k}", _at(START + timedelta(days=i + k % 3)),
                )  # fmt: skip
                await conn.execute("INSERT INTO article_instruments VALUES ($1, $2)", fp, ticker)
        await conn.execute(  # AAPL's daily prices fresh (the collector's watermark key);
            "INSERT INTO watermarks (instrument_id, capability, provider, covered_until) "
            "VALUES ('AAPL', 'prices:1d', 'yahoo', now())"  # everything else never collected
        )


async def test_api_counts_add_up_across_flushes_and_replicas(migrated_pool) -> None:
    async def pool() -> asyncpg.Pool:
        return migrated_pool

    one, two = DailyCounts(pool), DailyCounts(pool)  # two replicas
    for _ in range(3):
        one.record("/api/v1/instruments", 200, 0.02, at=_at(START))
    one.record("/api/v1/instruments", 503, 3.0, at=_at(START))
    assert await one.flush()
    one.record("/api/v1/instruments", 404, 0.02, at=_at(START))
    two.record("/api/v1/instruments", 200, 0.02, at=_at(START))
    assert await one.flush() and await two.flush()
    (row,) = await api_daily.days(migrated_pool, START, START)
    assert (row.requests, row.errors_4xx, row.errors_5xx) == (6, 1, 1)
    assert sum(row.buckets) == 6 and row.buckets[api_daily.bucket_of(3.0)] == 1
    assert row.seconds_sum == pytest.approx(5 * 0.02 + 3.0)

    async def broken() -> asyncpg.Pool:
        raise ConnectionError("Postgres is away")

    failing = DailyCounts(broken)
    failing.record("/x", 200, 0.01, at=_at(START))
    assert not await failing.flush()  # kept for the next flush, not lost
    failing._pool = pool
    failing.record("/x", 200, 0.01, at=_at(START))
    assert await failing.flush()
    (x,) = [r for r in await api_daily.days(migrated_pool, START, START) if r.route == "/x"]
    assert x.requests == 2


async def test_the_week_is_written_served_to_admins_and_replaced_on_rerun(
    migrated_pool, fresh_dsn, tmp_path
) -> None:
    settings = load_settings(database_url=fresh_dsn, home=tmp_path)
    await _seed(migrated_pool, settings)
    counts = DailyCounts(lambda: _same(migrated_pool))
    for day, n, failed in ((START, 40, 0), (START + timedelta(days=1), 60, 3)):
        for i in range(n):
            counts.record("/api/v1/instruments", 500 if i < failed else 200, 0.03, at=_at(day))
    counts.record("/healthz", 200, 0.001, at=_at(START))  # a probe: not counted as use
    assert await counts.flush()

    summary = await run(settings, WeeklyReportRequest(end=END), "weekly-test")
    page_path = tmp_path / "reports" / "weekly" / "weekly-2026-11-29.html"
    assert summary.path == str(page_path) and not summary.replaced
    page = page_path.read_text()
    assert page.count("<svg") == 6 and not EXTERNAL.search(page)
    assert re.search(r'id="total-requests">100<', page)
    assert re.search(r'id="total-5xx">3<', page)
    assert re.search(r'id="total-runs">5<', page) and re.search(r'id="total-failures">2<', page)
    assert "$2.5000" in page  # 1.25 + 0.5 + 0.75
    news = page[page.index('id="news"') :]
    assert news.index("MSFT") < news.index("AAPL")
    numbers = json.loads(page_path.with_suffix(".json").read_text())
    assert numbers["totals"]["requests"] == 100 and numbers["totals"]["job_failures"] == 2
    fresh = {f["capability"]: f for f in numbers["freshness"]}
    assert fresh["prices"]["fresh"] == 1  # AAPL's; the rest never collected
    assert fresh["news"]["fresh"] == 0 and "AAPL" in fresh["news"]["stale_ids"]

    again = await run(settings, WeeklyReportRequest(end=END), "weekly-test-2")
    assert again.replaced and again.path == summary.path
    rows = await migrated_pool.fetch(
        "SELECT status, counts FROM job_runs WHERE kind = 'weekly_report' ORDER BY started_at"
    )
    assert [r["status"] for r in rows] == ["succeeded", "succeeded"]
    assert [r["counts"]["replaced"] for r in rows] == [False, True]
    assert rows[1]["counts"]["requests"] == 100

    async with migrated_pool.acquire() as conn:
        keys = {s: (await create_key(conn, f"wr-{s}", s))[1] for s in ("read", "admin")}
    app = build_api(settings)
    app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            admin = {"Authorization": f"Bearer {keys['admin']}"}
            listed = await http.get("/api/v1/ops/reports", headers=admin)
            assert listed.status_code == 200, listed.text
            (entry,) = listed.json()["reports"]
            assert entry["name"] == "weekly-2026-11-29.html"
            assert (entry["start"], entry["end"]) == (START.isoformat(), END.isoformat())
            assert entry["bytes"] == page_path.stat().st_size
            served = await http.get(entry["url"], headers=admin)
            assert served.status_code == 200
            assert served.headers["content-type"].startswith("text/html")
            assert served.text == page_path.read_text()
            assert "default-src 'none'" in served.headers["content-security-policy"]

            read = {"Authorization": f"Bearer {keys['read']}"}
            for url in ("/api/v1/ops/reports", entry["url"]):
                refused = await http.get(url, headers=read)
                assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
            missing = await http.get("/api/v1/ops/reports/weekly-2020-01-05.html", headers=admin)
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
            for bad in ("weekly-2026-11-29.json", "..%2Fweekly-2026-11-29.html", "x.html"):
                answer = await http.get(f"/api/v1/ops/reports/{bad}", headers=admin)
                assert answer.status_code in (404, 422) and "error" in answer.json(), bad
    finally:
        await app.state.context.close()


async def _same(pool: asyncpg.Pool) -> asyncpg.Pool:
    return pool


async def test_the_job_entrypoint_writes_an_empty_week_and_ends_with_its_summary(
    migrated_pool, fresh_dsn, tmp_path
) -> None:
    env = {**os.environ, "STOCKRAY_DATABASE_URL": fresh_dsn, "STOCKRAY_HOME": str(tmp_path)}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "jobs.weekly_report", "--end", "2026-11-29", "--days", "3"],
        env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["kind"] == "weekly_report" and summary["start"] == "2026-11-27"
    page = Path(summary["path"]).read_text()
    assert page.count("<svg") == 6 and page.count("no data") >= 6
    assert re.search(r'id="total-requests">0<', page)

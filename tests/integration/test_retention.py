"""The retention job deletes exactly what is past each setting, nothing a report cites, no
daily bar, no running or latest job run; a dry run counts the same and changes nothing; a
second run finds nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from configs.settings import Settings
from core.jobs import RetentionRequest
from core.models import Bar, Instrument
from core.storage import stories
from core.storage.db import sync_instruments
from core.storage.writers import write_articles, write_bars
from jobs.retention import run_retention
from tests.unit.storage.samples import article, daily_bars

AAPL = Instrument("AAPL", "Apple", "NASDAQ", "USD", "America/New_York")
DAYS = {"intraday_bars": 30, "article_bodies": 60, "llm_usage": 90, "job_runs": 120,
        "story_index": 60, "api_daily": 10}  # fmt: skip
ENV = {f"STOCKRAY_RETAIN_{k.upper()}_DAYS": str(v) for k, v in DAYS.items()}
NOW = datetime.now(UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def five_minute_bars(t0: datetime, n: int) -> list[Bar]:
    return [Bar("AAPL", "5m", t0 + timedelta(minutes=5 * i), 1, 2, 0.5, 1.5, 10, "yahoo")
            for i in range(n)]  # fmt: skip


async def _seed(conn: asyncpg.Connection) -> None:
    await sync_instruments(conn, [AAPL])
    await write_bars(conn, daily_bars("AAPL", n=300, t0=ago(400)))  # history: always kept
    for days_ago in (200, 100, 31):  # past 30 days: 3 x 12 go (two whole old months)
        await write_bars(conn, five_minute_bars(ago(days_ago), 12))
    for days_ago in (29, 1):
        await write_bars(conn, five_minute_bars(ago(days_ago), 12))
    arts = [article(f"old{i}", "AAPL", published_at=ago(61 + i)) for i in range(5)]
    arts += [article(f"new{i}", "AAPL", published_at=ago(59 - i)) for i in range(3)]
    arts = [replace(a, summary="long body") for a in arts]
    await write_articles(conn, arts)
    async with conn.transaction():  # the story index, as a collect writes it
        await stories.assign(conn, arts)
    await conn.executemany(
        "INSERT INTO api_daily (day, route, requests, buckets) VALUES ($1, $2, 1, '{}')",
        [((NOW - timedelta(days=d)).date(), "/api/v1/x") for d in (20, 11, 9, 1)],
    )
    await conn.execute(  # a report citing old0 and new0: old0 keeps its body
        "INSERT INTO reports (instrument_id, cache_key, window_start, window_end, method, "
        "prompt_version, locale, summary, rating, sentiment, citations) VALUES "
        "('AAPL', 'k', now(), now(), 'lexicon', 'v1', 'en', 's', 'hold', 0, $1)",
        ["old0", "new0"],
    )
    await conn.executemany(
        "INSERT INTO llm_usage (at, endpoint, model, tokens_in, tokens_out, cost_micro, purpose,"
        " status) VALUES ($1, 'e', 'm', 1, 1, 1, 'p', 'ok')",
        [(ago(d),) for d in (400, 200, 91, 89, 1)],
    )
    runs = [  # kind, status, days ago: the newest backfill is old but stays
        ("collect", "succeeded", 300), ("collect", "failed", 121), ("collect", "running", 200),
        ("collect", "succeeded", 2), ("backfill", "succeeded", 500), ("backfill", "failed", 130),
    ]  # fmt: skip
    await conn.executemany(
        "INSERT INTO job_runs (kind, trace_id, status, started_at, finished_at) "
        "VALUES ($1, 't', $2::text, $3::timestamptz, "
        "CASE WHEN $2 = 'running' THEN NULL ELSE $3 END)",
        [(k, s, ago(d)) for k, s, d in runs],
    )


async def _state(conn: asyncpg.Connection) -> dict:
    return {
        "daily": await conn.fetchval("SELECT count(*) FROM bars WHERE interval = '1d'"),
        "intraday": await conn.fetchval("SELECT count(*) FROM bars WHERE interval = '5m'"),
        "bodies": sorted(r[0] for r in await conn.fetch(
            "SELECT fingerprint FROM articles WHERE summary IS NOT NULL")),
        "articles": await conn.fetchval("SELECT count(*) FROM articles"),
        "llm_usage": await conn.fetchval("SELECT count(*) FROM llm_usage"),
        "indexed": sorted(r[0] for r in await conn.fetch(
            "SELECT fingerprint FROM story_signatures")),
        "banded": sorted(r[0] for r in await conn.fetch(
            "SELECT DISTINCT fingerprint FROM story_bands")),
        "api_days": await conn.fetchval("SELECT count(*) FROM api_daily"),
        "storied": await conn.fetchval("SELECT count(story_id) FROM articles"),
        "job_runs": sorted(tuple(r) for r in await conn.fetch(
            "SELECT kind, status FROM job_runs WHERE trace_id = 't'")),
    }  # fmt: skip


async def test_retention_deletes_exactly_what_is_past_each_setting(
    migrated_pool: asyncpg.Pool, fresh_dsn: str, tmp_path: Path
) -> None:
    async with migrated_pool.acquire() as conn:
        await _seed(conn)
        before = await _state(conn)
    settings = Settings().model_copy(update={f"retain_{k}_days": v for k, v in DAYS.items()})

    dry = await run_retention(fresh_dsn, RetentionRequest(dry_run=True), settings, "dry", NOW)
    expected = {"intraday_bars": 36, "article_bodies": 4, "llm_usage": 3, "job_runs": 3,
                "story_index": 5, "api_daily": 2}  # fmt: skip
    assert dry.counts == expected and dry.error is None
    assert dry.partitions_dropped >= 2  # the months of 200 and 100 days ago, whole
    async with migrated_pool.acquire() as conn:
        assert await _state(conn) == before  # a dry run changes nothing

    env = {**os.environ, **ENV, "STOCKRAY_DATABASE_URL": fresh_dsn,
           "STOCKRAY_HOME": str(tmp_path)}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "jobs.retention"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["kind"] == "retention" and line["counts"] == expected
    assert line["partitions_dropped"] == dry.partitions_dropped

    async with migrated_pool.acquire() as conn:
        after = await _state(conn)
        row = await conn.fetchrow(
            "SELECT status, counts FROM job_runs WHERE id = $1", uuid.UUID(line["run_id"])
        )
    assert after == {
        "daily": 300,
        "intraday": 24,
        "bodies": ["new0", "new1", "new2", "old0"],  # old0 is cited by a report
        "articles": 8,  # rows and fingerprints stay: dedupe still knows them
        "llm_usage": 2,
        "indexed": ["new0", "new1", "new2"],  # the old ones keep their story id only
        "banded": ["new0", "new1", "new2"],
        "api_days": 2,
        "storied": 8,
        "job_runs": [("backfill", "failed"), ("collect", "running"), ("collect", "succeeded")],
    }
    assert row["status"] == "succeeded"
    assert {k: row["counts"][k] for k in expected} == expected

    again = await run_retention(fresh_dsn, RetentionRequest(), settings, "again", NOW)
    assert again.counts == dict.fromkeys(expected, 0) and again.partitions_dropped == 0


def test_retention_refuses_an_unknown_flag() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jobs.retention", "--dry-rn"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "--dry-rn" in done.stderr

"""`GET /api/v1/jobs/{id}` shows only stockray's own Ray jobs, with secret-looking
arguments masked: a read key must not read another job's command line off a shared cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from configs.settings import load_settings
from core.storage.api_keys import create_key
from core.storage.db import connect
from serve_app.app import build_api
from serve_app.context import AppContext
from serve_app.ops_routes import stockray_job

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize(
    ("entrypoint", "ours"),
    [
        ("python -m jobs.backfill --tickers AAPL --trace-id t", True),
        ("python -m jobs.collect", True),
        ("python -m jobsx.collect", False),
        ("python -m jobs", False),
        ("python jobs/collect.py", False),
        ("bash -c 'python -m jobs.collect'", False),
        ("echo hi; python -m jobs.collect", False),
        ("python -m jobs.collect;curl evil", False),
        ("python -m jobs.collect && curl evil", False),
        ("python -m jobs.collect --note 'a && b'", True),  # quoted: an argument
        ("python -m 'unbalanced", False),
        ("", False),
        (None, False),
    ],
)
def test_only_our_job_modules_count_as_ours(entrypoint: str | None, ours: bool) -> None:
    assert stockray_job(entrypoint) is ours


@pytest.fixture
async def api(ray_cluster) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], Any]]:
    settings = load_settings(
        database_url=ray_cluster.dsn,
        config_dir=ray_cluster.config_dir,
        dashboard_port=urlparse(ray_cluster.dashboard_url).port,
    )
    conn = await connect(ray_cluster.dsn)
    _, key = await create_key(conn, "jobs-exposure", "read")
    await conn.close()
    app = build_api(settings)
    app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60) as http:
        yield http, {"Authorization": f"Bearer {key}"}, app.state.context
    await app.state.context.close()


async def test_a_read_key_sees_only_our_jobs_with_secrets_masked(api) -> None:
    http, read, ctx = api
    jobs = await asyncio.to_thread(ctx.jobs_client)
    foreign = await asyncio.to_thread(
        jobs.submit_job, entrypoint="echo another tenant --token foreign-s3cret-tok"
    )
    ours = await asyncio.to_thread(
        jobs.submit_job,
        entrypoint="python -m jobs.nosuch --tickers AAPL --token tok-s3cret-99 "
        "--dsn postgresql://app:pg-s3cret@db/x --url 'https://h/q?apikey=AV-s3cret-7'",
        metadata={"trace_id": "jobs-exposure"},
    )
    try:
        hidden = await http.get(f"/api/v1/jobs/{foreign}", headers=read)
        assert hidden.status_code == 404, hidden.text  # the same answer as an unknown id
        assert "foreign" not in hidden.text
        shown = await http.get(f"/api/v1/jobs/{ours}", headers=read)
        assert shown.status_code == 200, shown.text
        entrypoint = shown.json()["entrypoint"]
        assert entrypoint.startswith("python -m jobs.nosuch --tickers AAPL --token '***'")
        assert "app:***@db" in entrypoint and "apikey=***" in entrypoint
        assert "s3cret" not in shown.text
    finally:
        for job in (foreign, ours):
            await asyncio.to_thread(jobs.stop_job, job)

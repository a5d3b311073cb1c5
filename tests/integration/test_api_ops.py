"""Operator endpoints that reach the cluster: backfills as Ray Jobs, provider health."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import httpx
import pytest

from configs.settings import load_settings
from core.storage.api_keys import create_key
from core.storage.db import connect
from core.wait import apoll
from serve_app.app import build_api
from serve_app.context import AppContext

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def ops(ray_cluster) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """The API on the cluster's database and Jobs API, with a read and an admin key."""
    settings = load_settings(
        database_url=ray_cluster.dsn,
        config_dir=ray_cluster.config_dir,
        dashboard_port=urlparse(ray_cluster.dashboard_url).port,
    )
    conn = await connect(ray_cluster.dsn)
    keys = {
        scope: (await create_key(conn, f"ops-{scope}", scope))[1] for scope in ("read", "admin")
    }
    await conn.close()
    app = build_api(settings)
    app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60) as http:
        yield http, {s: f"Bearer {k}" for s, k in keys.items()}
    await app.state.context.close()


async def test_backfill_is_submitted_as_a_ray_job_and_reports_progress(ops) -> None:
    http, keys = ops
    body = {"tickers": ["MSFT"], "start": "2024-02-01", "end": "2024-02-20"}
    read = await http.post(
        "/api/v1/jobs/backfill", json=body, headers={"Authorization": keys["read"]}
    )
    assert read.status_code == 403
    admin = {"Authorization": keys["admin"], "Idempotency-Key": f"t-{time.time_ns()}"}
    bad = await http.post(
        "/api/v1/jobs/backfill",
        json={**body, "tickers": ["NOPE"], "start": "2024-03-01", "interval": "7y"},
        headers=admin,
    )
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.json()["error"]["details"]}
    assert fields == {"tickers", "start", "interval"}

    submitted = await http.post("/api/v1/jobs/backfill", json=body, headers=admin)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    retried = await http.post("/api/v1/jobs/backfill", json=body, headers=admin)
    assert retried.status_code == 200 and retried.json()["job_id"] == job_id  # same key, same job

    async def job_now() -> dict:
        status = await http.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": keys["read"]})
        assert status.status_code == 200, status.text
        return status.json()

    ended = ("SUCCEEDED", "FAILED", "STOPPED")
    job = await apoll(job_now, until=lambda j: j["status"] in ended, timeout_s=180, interval_s=1)
    assert job["status"] == "SUCCEEDED", job
    assert job["trace_id"] == submitted.json()["trace_id"]
    assert job["run"]["kind"] == "backfill" and job["run"]["status"] == "succeeded"
    assert job["run"]["counts"]  # rows written, chunks done
    # The run is also reachable by its own id.
    run = await http.get(
        f"/api/v1/jobs/{job['run']['id']}", headers={"Authorization": keys["read"]}
    )
    assert run.status_code == 200 and run.json()["trace_id"] == job["trace_id"]
    missing = await http.get("/api/v1/jobs/raysubmit_nope", headers={"Authorization": keys["read"]})
    assert missing.status_code == 404


async def test_providers_show_circuit_and_budget(ops) -> None:
    http, keys = ops
    answer = await http.get("/api/v1/providers", headers={"Authorization": keys["read"]})
    assert answer.status_code == 200, answer.text
    providers = answer.json()["providers"]
    assert {"yahoo", "alphavantage", "newsapi", "dart"} <= set(providers)
    yahoo = providers["yahoo"]
    assert yahoo["enabled"] is True
    assert yahoo["circuit"]["state"] == "closed"
    assert "budget" in yahoo


async def test_llm_shows_each_endpoints_structured_mode_and_budget(ops, ray_cluster) -> None:
    http, keys = ops
    assert (await http.get("/api/v1/llm")).status_code == 401
    answer = await http.get("/api/v1/llm", headers={"Authorization": keys["read"]})
    assert answer.status_code == 200, answer.text
    llm = answer.json()
    assert llm["enabled"] is True
    configured = load_settings(config_dir=ray_cluster.config_dir).llm.endpoints
    assert [e["endpoint"] for e in llm["endpoints"]] == [e.name for e in configured]
    for shown, config in zip(llm["endpoints"], configured, strict=True):
        assert shown["configured"] == config.structured
        # a mode only ever steps down, and each step is listed with the refusal
        modes = ("json_schema", "json_object_schema", "json_object", "none")
        assert modes.index(shown["structured"]) == modes.index(config.structured) + len(
            shown["downgrades"]
        )
    assert (
        llm["budget"]["limit_usd"] > 0 and llm["budget"]["left_usd"] <= llm["budget"]["limit_usd"]
    )

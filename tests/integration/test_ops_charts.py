"""The Operations page's chart series on real Postgres: known seeded rows give known numbers
(spend per day against the budget, job durations and failures, provider requests per minute
against the limits), bad windows are a 422, Postgres gone is a 503; and the provider actors'
per-minute counter adds its counts up in Postgres and keeps them while it is away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from actors.request_minutes import MinuteHooks
from configs.settings import load_settings
from core.provider_service import NoHooks
from core.storage import provider_minutes
from core.storage.api_keys import create_key
from core.storage.provider_minutes import ProviderMinute, minute_of
from serve_app.app import build_api
from serve_app.context import AppContext

pytestmark = pytest.mark.timeout(120)


async def _seed(pool, now: datetime) -> None:
    """Known rows around `now` (the time of seeding, not of import: the charts' windows end
    at the request's own now)."""
    today = now.date()
    usage = """INSERT INTO llm_usage (at, endpoint, model, tokens_in, tokens_out, cost_micro,
               purpose, status) VALUES ($1, 'e', 'm', 10, 5, $2, 'analysis', 'ok')"""
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    for at, micro in [
        (now, 1_000_000),
        (now, 250_000),
        (noon - timedelta(days=1), 500_000),
        (noon - timedelta(days=40), 9_000_000),  # outside a 30-day window
    ]:
        await pool.execute(usage, at, micro)
    await pool.execute(
        "INSERT INTO llm_budget (day, limit_micro) VALUES ($1, 2000000)", today - timedelta(1)
    )
    run = """INSERT INTO job_runs (kind, trace_id, status, started_at, finished_at)
             VALUES ($1, 't', $2, $3, $4)"""
    hour = now - timedelta(hours=3)
    for kind, status, started, seconds in [
        ("collect", "succeeded", hour, 10),
        ("collect", "failed", hour + timedelta(minutes=5), 30),
        ("collect", "succeeded", hour + timedelta(minutes=10), 20),
        ("backfill", "succeeded", hour + timedelta(minutes=15), 120),
        ("analyze", "succeeded", now - timedelta(days=10), 5),  # before a 7-day window
    ]:
        await pool.execute(run, kind, status, started, started + timedelta(seconds=seconds))
    await pool.execute(run.replace("$4", "NULL"), "collect", "running", now)
    this = minute_of(now)
    await provider_minutes.add(
        pool,
        [
            ProviderMinute("yahoo", this - timedelta(minutes=2), 40, 1, 2),
            ProviderMinute("yahoo", this, 7),
            ProviderMinute("yahoo", this - timedelta(hours=3), 99),  # outside 60 minutes
            ProviderMinute("alphavantage", this - timedelta(minutes=1), 3, 3),
        ],
    )


@pytest.fixture
async def client(migrated_pool, fresh_dsn: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    now = datetime.now(UTC)
    await _seed(migrated_pool, now)
    _, key = await create_key(migrated_pool, "charts", "read")
    settings = load_settings(database_url=fresh_dsn, api_rate_limit=0)
    app = build_api(settings)
    app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as h:
        yield h, app.state.context, now
    await app.state.context.close()


async def test_spend_per_day_against_the_budget(client) -> None:
    http, _, now = client
    answer = await http.get("/api/v1/ops/charts/spend", params={"days": 30})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["budget_usd"] == 5.0  # pricing.yaml
    days = body["days"]
    today = now.date()
    assert len(days) == 30 and days[-1]["day"] == today.isoformat()
    assert days[0]["day"] == (today - timedelta(days=29)).isoformat()
    assert days[-1] == {"day": today.isoformat(), "calls": 2, "cost_usd": 1.25, "budget_usd": 5.0}
    assert days[-2]["cost_usd"] == 0.5 and days[-2]["budget_usd"] == 2.0  # that day's row
    assert sum(d["calls"] for d in days) == 3  # the 40-day-old call is outside
    assert all(d["cost_usd"] == 0 for d in days[:-2])


async def test_job_durations_and_failures(client) -> None:
    http, _, _ = client
    answer = await http.get("/api/v1/ops/charts/jobs", params={"days": 7})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    runs = body["runs"]
    assert [(r["kind"], r["status"], r["duration_s"]) for r in runs] == [
        ("collect", "succeeded", 10),
        ("collect", "failed", 30),
        ("collect", "succeeded", 20),
        ("backfill", "succeeded", 120),
    ]  # oldest first; the running one and the 10-day-old one are not drawn
    kinds = {k["kind"]: k for k in body["kinds"]}
    assert kinds == {
        "backfill": {"kind": "backfill", "runs": 1, "failed": 0, "median_s": 120, "max_s": 120},
        "collect": {"kind": "collect", "runs": 3, "failed": 1, "median_s": 20, "max_s": 30},
    }


async def test_provider_requests_per_minute_against_limits(client) -> None:
    http, _, now = client
    answer = await http.get("/api/v1/ops/charts/providers", params={"minutes": 60})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    rates = {p["provider"]: p for p in body["providers"]}
    assert {"yahoo", "alphavantage", "newsapi", "dart"} <= set(rates)
    yahoo = rates["yahoo"]
    assert yahoo["limit_per_min"] == 300  # 5 a second; 2000 an hour allows more in a minute
    assert rates["alphavantage"]["limit_per_min"] == 25  # 25 a day is less than 1 per 1.2 s
    assert rates["newsapi"]["limit_per_min"] == 100
    assert all(len(p["minutes"]) == 60 for p in rates.values())  # every minute, zeros too
    # The window ends at the request's minute, which may be past the seeded one.
    this = minute_of(now)
    at = {m["minute"]: m for m in yahoo["minutes"]}
    assert yahoo["minutes"][-1]["minute"] >= this.isoformat()
    ago = [(this - timedelta(minutes=k)).isoformat() for k in (2, 1, 0)]
    assert [at[m]["requests"] for m in ago] == [40, 0, 7]
    assert at[ago[0]] | {"minute": None} == {
        "minute": None, "requests": 40, "refused": 1, "failed": 2,
    }  # fmt: skip
    assert sum(m["requests"] for m in yahoo["minutes"]) == 47  # 3 hours ago is outside
    av = {m["minute"]: m["refused"] for m in rates["alphavantage"]["minutes"]}
    assert [av[m] for m in ago[1:]] == [3, 0]
    assert sum(m["requests"] for m in rates["dart"]["minutes"]) == 0


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/ops/charts/spend?days=0", "query.days"),
        ("/api/v1/ops/charts/spend?days=367", "query.days"),
        ("/api/v1/ops/charts/jobs?days=91", "query.days"),
        ("/api/v1/ops/charts/jobs?days=week", "query.days"),
        ("/api/v1/ops/charts/providers?minutes=4", "query.minutes"),
        ("/api/v1/ops/charts/providers?minutes=1441", "query.minutes"),
    ],
)
async def test_a_window_out_of_range_is_a_422(client, path: str, field: str) -> None:
    http, _, _ = client
    answer = await http.get(path)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and error["details"][0]["field"] == field


async def test_without_a_key_401_and_postgres_gone_503(client) -> None:
    http, ctx, _ = client
    anonymous = await http.get("/api/v1/ops/charts/spend", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert (await http.get("/api/v1/ops/charts/jobs")).status_code == 200  # key verified
    await (await ctx.pool()).close()  # the replica's pool gone: as if Postgres went away
    for path in ("spend", "jobs", "providers"):
        answer = await http.get(f"/api/v1/ops/charts/{path}")
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "database_unavailable"
        assert "Retry-After" in answer.headers


async def test_minute_hooks_add_up_in_postgres_and_keep_counts_while_it_is_away(
    migrated_pool, fresh_dsn: str
) -> None:
    hooks = MinuteHooks(NoHooks(), fresh_dsn, interval_s=3600)  # flushed by hand here
    for outcome in ("ok", "ok", "rate_limited", "timeout", "circuit_open", "throttled"):
        hooks.request("dart", outcome, 0.1)
    assert await hooks.flush()
    hooks.request("dart", "ok", 0.1)
    assert await hooks.flush()  # a second flush adds to the first
    this = minute_of(datetime.now(UTC))
    found = await provider_minutes.between(
        migrated_pool, this - timedelta(minutes=2), this + timedelta(minutes=1)
    )
    assert sum(r.requests for r in found) == 5  # circuit_open and throttled were never sent
    assert (sum(r.refused for r in found), sum(r.failed for r in found)) == (1, 1)
    await hooks.aclose()

    away = MinuteHooks(NoHooks(), "postgresql://nobody@127.0.0.1:1/none", interval_s=3600)
    away.request("dart", "ok", 0.1)
    assert not await away.flush()
    assert [r.requests for r in away.tally.drain()] == [1]  # kept for the next flush
    await away.aclose()

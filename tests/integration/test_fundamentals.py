"""Financial statements end to end: `jobs.collect --capabilities fundamentals` on the
session's cluster against the sim (DART for a Korean, Alpha Vantage for a US instrument), a
re-run that stores nothing, a sim restatement that adds a version, and the API's answer."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import httpx
import pytest

from configs.settings import load_settings
from core.storage.api_keys import create_key
from core.storage.db import connect
from serve_app.app import build_api
from serve_app.context import AppContext
from sim.server import SimServer

pytestmark = pytest.mark.timeout(600)
TICKERS = "AAPL,005930.KS"


def _collect(cluster: Any) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "jobs.collect", "--tickers", TICKERS, "--capabilities",
         "fundamentals", "--no-analyze"],
        env=cluster.job_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    return json.loads(lines[-1])


def _rows(dsn: str) -> list[dict]:
    async def go() -> list[dict]:
        conn = await connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT instrument_id, period, statement, account, consolidated, version, "
                "value, provider, report_id FROM fundamentals WHERE instrument_id = ANY($1)",
                TICKERS.split(","),
            )
            return [dict(r) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(go())


async def _api(dsn: str, path: str) -> Any:
    settings = load_settings(database_url=dsn)
    conn = await connect(dsn)
    try:
        _, key = await create_key(conn, "fundamentals-test", "read")
    finally:
        await conn.close()
    app = build_api()
    app.state.context = AppContext(settings)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            http.headers["Authorization"] = f"Bearer {key}"
            return [await http.get(p) for p in path.split(" ")]
    finally:
        await app.state.context.close()


def test_collect_rerun_restatement_and_api(ray_cluster, sim: SimServer) -> None:
    sim.clear_faults()
    first = _collect(ray_cluster)
    rows = _rows(ray_cluster.dsn)
    by_provider = {(r["instrument_id"], r["provider"]) for r in rows}
    assert by_provider == {("AAPL", "alphavantage"), ("005930.KS", "dart")}, first
    assert {r["version"] for r in rows} == {1}
    korean = [r for r in rows if r["instrument_id"] == "005930.KS"]
    assert {r["consolidated"] for r in korean} == {True, False}  # CFS and OFS lines
    assert all(r["report_id"] for r in korean)  # DART receipt numbers
    assert any(r["period"].endswith("FY") for r in korean)

    _collect(ray_cluster)  # the same figures again: nothing new
    assert len(_rows(ray_cluster.dsn)) == len(rows)

    for provider in ("dart", "alphavantage"):
        sim.set_scenarios(provider, {"restated": True})
    try:
        _collect(ray_cluster)
    finally:
        sim.clear_scenarios("dart")
        sim.clear_scenarios("alphavantage")
    after = _rows(ray_cluster.dsn)
    restated = sorted(
        (r["instrument_id"], r["account"], r["consolidated"]) for r in after if r["version"] == 2
    )
    assert restated == [
        ("005930.KS", "revenue", False),
        ("005930.KS", "revenue", True),
        ("AAPL", "revenue", True),
    ]
    assert len(after) == len(rows) + 3  # the old versions are kept

    latest, versions, missing, backwards = asyncio.run(
        _api(
            ray_cluster.dsn,
            "/api/v1/instruments/005930.KS/fundamentals?statement=income "
            "/api/v1/instruments/005930.KS/fundamentals?versions=all "
            "/api/v1/instruments/NOPE/fundamentals "
            "/api/v1/instruments/AAPL/fundamentals?from=2025-01-01&to=2024-01-01",
        )
    )
    assert latest.status_code == 200, latest.text
    body = latest.json()
    assert body["versions"] == "latest" and {f["statement"] for f in body["facts"]} == {"income"}
    revenue = [f for f in body["facts"] if f["account"] == "revenue" and f["version"] == 2]
    assert len(revenue) == 2 and all(isinstance(f["value"], int) for f in revenue)
    both = [f for f in versions.json()["facts"] if f["account"] == "revenue"
            and (f["period"], f["consolidated"]) == (revenue[0]["period"], True)]  # fmt: skip
    assert [f["version"] for f in both] == [1, 2] and both[0]["value"] != both[1]["value"]
    assert both[1]["report_id"] > both[0]["report_id"]  # the amendment's later receipt no.
    assert missing.status_code == 404 and backwards.status_code == 400

"""`stockray doctor` as an operator runs it (a subprocess), against the session's Ray cluster
and sim, the real API under uvicorn, and a database holding known rows."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from cluster.ray_head import free_port
from cluster.state import SimState, StackState
from configs.settings import load_settings
from core.doctor import Report
from core.scheduling import HEARTBEAT_ROW
from core.storage import backups, schedule_state
from core.storage.db import connect, sync_instruments
from core.storage.migrations import migrate
from serve_app.app import build_api
from serve_app.context import AppContext
from tests.unit.test_doctor import _certificate

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = """schedules:
  - name: hourly
    tickers: [AAPL, MSFT]
    capabilities: [prices, news]
    interval_s: 3600
"""
PAIRS = [(t, c) for t in ("AAPL", "MSFT") for c in ("prices", "news")]


@pytest.fixture
async def stack(ray_cluster, sim, fresh_dsn: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Config with one hourly schedule, a database with fresh data and a verified backup, the
    API on a free port, a home whose stack.json names the sim, a TLS certificate, a log."""
    import ray

    from actors.providers import router_handle

    config_dir = tmp_path / "configs"
    shutil.copytree(ray_cluster.config_dir, config_dir)
    (config_dir / "schedules.yaml").write_text(SCHEDULES)
    settings = load_settings(config_dir=config_dir, database_url=fresh_dsn)
    conn = await connect(fresh_dsn)
    await migrate(conn)
    await sync_instruments(conn, [i.to_instrument() for i in settings.watchlist.instruments])
    for instrument, capability in PAIRS:  # prices are watermarked per bar interval
        await conn.execute(
            "INSERT INTO watermarks (instrument_id, capability, provider, covered_until) "
            "VALUES ($1, $2, 'sim', now())",
            instrument,
            "prices:1d" if capability == "prices" else capability,
        )
    now = datetime.now(UTC)
    fresh = backups.Backup("logical", str(tmp_path / "b1"), now - timedelta(hours=1, minutes=2),
                           now - timedelta(hours=1), 1024, now - timedelta(minutes=59))  # fmt: skip
    await backups.record(conn, fresh)
    home = tmp_path / "home"
    StackState(sim=SimState(admin_url=sim.admin_url, started_by_up=True)).save(home)
    (home / "logs").mkdir()
    line = {"ts": now.isoformat(), "level": "ERROR", "msg": "boom", "stage": "collect"}
    (home / "logs" / "sim.log").write_text(json.dumps(line) + "\n")
    _certificate(tmp_path / "api.pem", days=90)
    await asyncio.to_thread(lambda: ray.get(router_handle().health.remote(), timeout=60))

    app = build_api(settings)
    app.state.context = AppContext(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    dashboard = ray_cluster.dashboard_url.removeprefix("http://").split(":")
    env = {
        **os.environ,
        "RAY_ADDRESS": ray_cluster.gcs_address,
        "STOCKRAY_HOME": str(home),
        "STOCKRAY_CONFIG_DIR": str(config_dir),
        "STOCKRAY_DATABASE_URL": fresh_dsn,
        "STOCKRAY_DASHBOARD_HOST": dashboard[0],
        "STOCKRAY_DASHBOARD_PORT": dashboard[1],
        "STOCKRAY_API_HOST": "127.0.0.1",
        "STOCKRAY_API_PORT": str(port),
        "STOCKRAY_TLS_CERT_FILE": str(tmp_path / "api.pem"),
        # This machine's own headroom is not what the test is about (the unit tests grade it).
        "STOCKRAY_DOCTOR_DISK_USED_PCT": "[100, 100]",
        "STOCKRAY_DOCTOR_MEMORY_USED_PCT": "[100, 100]",
        "STOCKRAY_DOCTOR_CONNECTIONS_PCT": "[100, 100]",
        "STOCKRAY_DOCTOR_TIMEOUT_S": "30",
    }
    env.pop("STOCKRAY_REDIS_URL", None)
    yield {"env": env, "conn": conn, "port": port}
    server.should_exit = True
    await task
    await app.state.context.close()
    await conn.close()


async def _doctor(env: dict[str, str], conn: Any, *args: str) -> tuple[int, str]:
    await schedule_state.beat(conn, HEARTBEAT_ROW)  # the scheduler's row, as its actor writes
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cluster.cli", "doctor", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert "Traceback" not in err.decode(), err.decode()
    return proc.returncode, out.decode()


async def test_a_healthy_stack_then_a_broken_one(stack: dict[str, Any]) -> None:
    code, out = await _doctor(stack["env"], stack["conn"], "--json")
    report = Report.model_validate_json(out)
    status = {c.name: c.status for c in report.checks}
    assert (code, report.ok) == (0, True), out
    for name in ("postgres", "ray", "serve", "scheduler", "sim", "disk", "memory",
                 "pg_connections", "backup", "freshness", "llm_spend", "tls_cert"):  # fmt: skip
        assert status[name] == "ok", (name, out)
    assert status["redis"] == "skip"
    assert status["wal_archiving"] == "warn"  # the session's Postgres does not archive
    checks = {c.name: c for c in report.checks}
    assert checks["log_errors"].status == "warn" and checks["log_errors"].value == {"collect": 1}
    assert checks["freshness"].detail.startswith("4 of 4 ")
    assert status["providers"] in ("ok", "warn")  # another test may have opened a circuit
    assert {"yahoo", "newsapi"} <= set(checks["providers"].value)

    # Broken: the API's port has nobody, the newest backup is 100 h old, MSFT's news stale.
    conn = stack["conn"]
    await conn.execute("DELETE FROM backups")
    now = datetime.now(UTC)
    old = now - timedelta(hours=100)
    await backups.record(conn, backups.Backup("logical", "/old", old, old, 1, old))
    await conn.execute(
        "UPDATE watermarks SET updated_at = now() - interval '5 hours' "
        "WHERE instrument_id = 'MSFT' AND capability = 'news'"
    )
    env = stack["env"] | {"STOCKRAY_API_PORT": str(free_port())}
    code, out = await _doctor(env, conn)
    lines = {line.split()[1]: line for line in out.splitlines() if not line.startswith("doctor:")}
    assert code == 1, out
    assert lines["serve"].startswith("fail") and "ConnectError" in lines["serve"]
    assert lines["backup"].startswith("fail") and "100.0 h ago" in lines["backup"]
    assert lines["freshness"].startswith("warn") and "MSFT/news 5.0 h" in lines["freshness"]
    assert lines["postgres"].startswith("ok")
    assert out.splitlines()[-1].startswith("doctor: ") and " 2 fail" in out.splitlines()[-1]

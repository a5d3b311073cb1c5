"""No key leaves through an error: the sim echoes the key it was sent into every error body
(its `echo_key` scenario, and Alpha Vantage's daily-quota notice that names the key), and
the key is looked for everywhere an error travels: the providers answer of the API (which
the dashboard shows), `provider.circuit` events, `job_runs.error`, `llm_usage.detail`, the
job's output and the cluster's logs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import ray

from actors import NAMESPACE
from actors.events import events_handle
from actors.llm import GATEWAY_NAME, gateway_handle, remote_complete
from actors.providers import ROUTER_NAME, provider_actor_name
from configs.settings import load_settings
from core.errors import LLMError
from core.storage.api_keys import create_key
from core.storage.db import connect
from serve_app.app import build_api
from serve_app.context import AppContext
from sim.server import SimServer
from tests.support import kill_actor

pytestmark = pytest.mark.timeout(600)

KEY = "test-key"  # what tests/integration/conftest.py gives every provider and the LLM
PROVIDERS = ("yahoo", "alphavantage", "newsapi", "dart")


def _kill(name: str) -> None:
    kill_actor(name, NAMESPACE)


@pytest.fixture
def echoing(ray_cluster, sim: SimServer) -> Iterator[SimServer]:
    """Fresh actors; every provider with a key, and the LLM, fail with the key in the body."""
    names = (ROUTER_NAME, GATEWAY_NAME, *(provider_actor_name(p) for p in PROVIDERS))
    for name in names:
        _kill(name)
    sim.set_faults("yahoo", {"outage": {"mode": "503"}})  # prices fall to Alpha Vantage
    sim.set_scenarios("alphavantage", {"echo_key": True, "daily_quota": True, "daily_limit": 0})
    sim.set_scenarios("newsapi", {"echo_key": True})
    sim.set_faults("newsapi", {"error_rate": 1.0, "error_status": [500]})
    sim.set_scenarios("dart", {"echo_key": True, "maintenance": True})
    sim.set_scenarios("llm", {"echo_key": True})
    sim.set_faults("llm", {"error_rate": 1.0, "error_status": [500]})
    yield sim
    sim.clear_faults()
    sim.clear_scenarios()
    for name in names:  # open circuits and cooled endpoints stay behind otherwise
        _kill(name)


@pytest.fixture
async def api(ray_cluster) -> AsyncIterator[httpx.AsyncClient]:
    """The API on the cluster's database, with a read key."""
    settings = load_settings(
        database_url=ray_cluster.dsn,
        config_dir=ray_cluster.config_dir,
        dashboard_port=urlparse(ray_cluster.dashboard_url).port,
    )
    conn = await connect(ray_cluster.dsn)
    _, key = await create_key(conn, "secrets-read", "read")
    await conn.close()
    app = build_api(settings)
    app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers=headers, timeout=60
    ) as http:
        yield http
    await app.state.context.close()


def _collect(cluster) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.collect", "--tickers", "AAPL,005930.KS",
         "--capabilities", "prices,news,disclosures"],
        env=cluster.job_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _log_files(cluster) -> list[Path]:
    # isolated() puts the head's temp dir beside the config dir
    logs = cluster.config_dir.parent / "session_latest" / "logs"
    return [p for p in logs.rglob("*") if p.is_file()]


async def test_no_key_in_any_error_anywhere(ray_cluster, echoing: SimServer, api) -> None:
    done = _collect(ray_cluster)
    assert KEY not in done.stdout + done.stderr
    summary = json.loads([ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1])
    assert summary["failed"], done.stdout + done.stderr  # every capability failed

    # The AV daily-quota notice (which names the key) and the echoed bodies were answered.
    stats = echoing.stats()
    assert stats["alphavantage"]["requests"] >= 1 and stats["dart"]["requests"] >= 1
    assert stats["newsapi"]["requests"] >= 1

    with pytest.raises(LLMError) as failed:
        await remote_complete(gateway_handle())([{"role": "user", "content": "hello"}])
    assert KEY not in str(failed.value) and "***" in failed.value.message  # it was echoed

    answer = await api.get("/api/v1/providers")
    assert answer.status_code == 200, answer.text
    assert KEY not in answer.text
    providers = answer.json()["providers"]
    av = providers["alphavantage"]
    assert av["quota"]["exhausted"] is True and av["quota"]["reset_at"]
    for name in ("newsapi", "dart"):  # their bodies carried the key; the errors do not
        assert "***" in providers[name]["last_error"]["message"], name

    events = ray.get(events_handle().since.remote(0, ["provider.circuit"]))
    assert any(e["payload"]["provider"] == "alphavantage" for e in events)
    assert KEY not in json.dumps(events, default=str)

    conn = await connect(ray_cluster.dsn)
    try:
        error = await conn.fetchval(
            "SELECT error FROM job_runs WHERE id = $1::uuid", summary["run_id"]
        )
        details = await conn.fetch("SELECT detail FROM llm_usage WHERE status = 'error'")
    finally:
        await conn.close()
    assert KEY not in error and "ray::" not in error  # the error's words, not a traceback
    # AV's daily notice names the key. Which request met it first depends on the run's order:
    # when news did, prices found the circuit already open ("quota spent") instead.
    notice = "detected your API key as ***"
    assert notice in error or notice in av["last_error"]["message"], (error, av["last_error"])
    assert details and all(KEY not in (row["detail"] or "") for row in details)

    files = _log_files(ray_cluster)
    assert any(p.name.startswith("worker-") for p in files)  # the actors' and tasks' output
    assert [p.name for p in files if KEY.encode() in p.read_bytes()] == []

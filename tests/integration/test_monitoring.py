"""Alert rules, the Prometheus config and the Grafana dashboard: valid, and about real metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import yaml

from configs.settings import load_settings
from core.storage.db import connect, sync_instruments
from core.storage.migrations import migrate
from serve_app.app import build_api
from serve_app.context import AppContext

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "cluster" / "monitoring"
METRIC = re.compile(r"\bstockray_[a-z_]+\b")
SUFFIXES = ("_bucket", "_sum", "_count")


def _promtool(*args: str) -> str:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `bash scripts/test.sh` installs Debian's prometheus"
    done = subprocess.run(
        [promtool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_accepts_the_rules_and_config_and_each_alert_fires() -> None:
    assert "SUCCESS: 10 rules found" in _promtool("check", "rules", "alerts.yml")
    # Syntax only: the scrape's token file (credentials_file) exists where Prometheus runs.
    _promtool("check", "config", "--syntax-only", "prometheus.yml")
    # alerts_test.yml feeds each alert the series that should fire it (and some that
    # should not) and states exactly which alerts, labels and summaries result.
    assert "SUCCESS" in _promtool("test", "rules", "alerts_test.yml")


async def _exported(dsn: str) -> set[str]:
    """Every metric name the code exports: the API's /metrics (its own and the Postgres-read
    gauges, on a database holding a row of each kind) plus the actors' Ray metrics."""
    settings = load_settings(database_url=dsn, metrics_token="monitoring-token-0123456789")
    conn = await connect(dsn)
    await migrate(conn)
    await sync_instruments(conn, [i.to_instrument() for i in settings.watchlist.instruments])
    await conn.execute(
        "INSERT INTO watermarks (instrument_id, capability, provider, covered_until) "
        "VALUES ('AAPL', 'prices', 'yahoo', now());"
        "INSERT INTO job_runs (kind, trace_id, status) VALUES ('collect', 't', 'running');"
        "INSERT INTO llm_budget (day, limit_micro) VALUES ((now() AT TIME ZONE 'UTC')::date, 1);"
        "INSERT INTO llm_usage (endpoint, model, tokens_in, tokens_out, cost_micro, purpose, "
        "status) VALUES ('e', 'm', 1, 1, 1, 'analysis', 'ok')"
    )
    await conn.close()
    app = build_api(settings)
    app.state.context = AppContext(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as http:
        await http.get("/healthz")
        answer = await http.get(
            "/metrics", headers={"Authorization": "Bearer monitoring-token-0123456789"}
        )
        assert answer.status_code == 200, answer.text
        text = answer.text
    await app.state.context.close()
    names = {line.split("{")[0].split()[0] for line in text.splitlines() if line[:1].isalpha()}
    names |= set(METRIC.findall((ROOT / "actors" / "metrics.py").read_text()))
    for name in list(names):
        names |= {name + s for s in SUFFIXES}
    # The Ray job gauges need a live Jobs API; their names are checked from the source.
    names |= {"stockray_ray_jobs", "stockray_ray_job_pending_oldest_seconds"}
    return names


async def test_alerts_and_dashboard_use_only_exported_metrics(fresh_dsn: str) -> None:
    exported = await _exported(fresh_dsn)
    source = (ROOT / "serve_app" / "state_gauges.py").read_text()
    assert '"stockray_ray_jobs"' in source and '"stockray_ray_job_pending_oldest_seconds"' in source

    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    used_by_alerts = {m for r in rules for m in METRIC.findall(r["expr"])}
    assert used_by_alerts - exported == set()
    assert {r["alert"] for r in rules} == {
        "StockrayStackDown", "StockrayApiDown", "StockrayApiSlow", "StockrayApiErrors",
        "StockrayProviderCircuitOpen", "StockrayCollectionStale", "StockrayLlmBudgetHigh",
        "StockrayJobStuckPending", "StockrayBackupOld",
    }  # fmt: skip

    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used_by_dashboard = {m for e in exprs for m in METRIC.findall(e)}
    assert used_by_dashboard - exported == set()
    # The dashboard covers what operators asked for.
    for needed in (
        "stockray_provider_requests_total", "stockray_provider_circuit_open",
        "stockray_llm_spent_usd", "stockray_llm_budget_usd", "stockray_llm_calls_today",
        "stockray_http_requests_total", "stockray_http_request_seconds_bucket",
        "stockray_ws_connections", "stockray_job_runs",
    ):  # fmt: skip
        assert needed in used_by_dashboard, needed

"""`jobs.analyze` on the session's cluster: collect → analyze → published report, re-run free."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import ray

from actors.events import events_handle
from tests.integration.test_jobs import _sql

pytestmark = pytest.mark.timeout(600)


def _run(cluster, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", *args], env=cluster.job_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def test_collect_then_analyze_publishes_a_cited_report(ray_cluster, sim) -> None:
    sim.clear_faults()
    collected = _run(
        ray_cluster, "jobs.collect", "--tickers", "NVDA", "--capabilities", "news", "--no-analyze"
    )
    assert collected["counts"]["saved"] > 0 and collected["analyze_job"] is None

    first = _run(ray_cluster, "jobs.analyze", "--tickers", "NVDA", "--window", "7d")
    counts = first["counts"]
    assert counts["analysed"] > 0 and counts["llm_calls"] > 0 and counts["cost_usd"] > 0
    assert counts["reports"] == 1 and first["failed"] == {}
    report = _sql(
        ray_cluster.dsn,
        "SELECT row_to_json(r)::text FROM reports r WHERE instrument_id = 'NVDA' "
        "ORDER BY created_at DESC LIMIT 1",
    )
    report = json.loads(report)
    assert report["status"] == "published" and report["method"] == "llm"
    assert report["citations"]
    events = ray.get(events_handle().since.remote(0, ["report.published"]))
    assert any(e["payload"]["report_id"] == report["id"] for e in events)
    cost = _sql(
        ray_cluster.dsn,
        "SELECT sum(cost_micro)::bigint FROM llm_usage WHERE trace_id = $1",
        first["trace_id"],
    )
    assert abs(cost / 1e6 - counts["cost_usd"]) < 1e-5  # every call recorded, same total

    again = _run(ray_cluster, "jobs.analyze", "--tickers", "NVDA", "--window", "7d")
    assert again["counts"]["llm_calls"] == 0 and again["counts"]["cost_usd"] == 0
    assert again["counts"]["reports"] == 0  # same inputs: the cached report stands


def test_collect_triggers_analysis_for_new_articles(ray_cluster, sim) -> None:
    from ray.job_submission import JobSubmissionClient

    sim.clear_faults()
    collected = _run(ray_cluster, "jobs.collect", "--tickers", "MSFT", "--capabilities", "news")
    job_id = collected["analyze_job"]
    assert job_id
    jobs = JobSubmissionClient(ray_cluster.dashboard_url)
    deadline = time.monotonic() + 180
    while str(jobs.get_job_status(job_id)) not in {"SUCCEEDED", "FAILED", "STOPPED"}:
        assert time.monotonic() < deadline
        time.sleep(1)
    assert str(jobs.get_job_status(job_id)) == "SUCCEEDED", jobs.get_job_logs(job_id)[-2000:]
    assert _sql(ray_cluster.dsn, "SELECT count(*) FROM reports WHERE instrument_id = 'MSFT'") >= 1


def test_bad_window_is_refused(ray_cluster) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jobs.analyze", "--window", "soon"],
        env=ray_cluster.job_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--window: 'soon' is not a window" in done.stderr

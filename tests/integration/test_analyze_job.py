"""`jobs.analyze` on the session's cluster: collect → analyze → published report, re-run free."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import ray

from actors.events import events_handle
from core.wait import eventually
from tests.integration.test_jobs import _sql

pytestmark = pytest.mark.timeout(600)


def _run(cluster, *args: str, logs: list[str] | None = None, code: int = 0) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", *args], env={**cluster.job_env(), "STOCKRAY_LOG_JSON": "1"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == code, done.stdout[-2000:] + done.stderr[-2000:]
    if logs is not None:  # the driver's lines and, streamed to it by Ray, its tasks'
        logs += (done.stdout + done.stderr).splitlines()
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def _json_lines(lines: list[str]) -> list[dict]:
    # Ray prefixes a task's streamed lines with "(task pid=…) "; the record follows.
    found = []
    for line in lines:
        start = line.find('{"ts"')
        if start >= 0:
            found.append(json.loads(line[start:]))
    return found


def test_collect_then_analyze_publishes_a_cited_report(ray_cluster, sim) -> None:
    sim.clear_faults()
    trace, logs = "trace-nvda-0001", []  # as the scheduler passes it, and collect to analyze
    collected = _run(
        ray_cluster, "jobs.collect", "--tickers", "NVDA", "--capabilities", "news", "--no-analyze",
        "--trace-id", trace, logs=logs,
    )  # fmt: skip
    assert collected["counts"]["saved"] > 0 and collected["analyze_job"] is None

    first = _run(
        ray_cluster, "jobs.analyze", "--tickers", "NVDA", "--window", "7d", "--trace-id", trace,
        logs=logs,
    )  # fmt: skip
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

    # One trace id through the run: the job rows, and JSON log lines of both jobs' tasks
    # (collect in the provider's words, then the report published) carry it.
    kinds = _sql(
        ray_cluster.dsn,
        "SELECT string_agg(kind, ',' ORDER BY kind) FROM job_runs WHERE trace_id = $1", trace,
    )  # fmt: skip
    assert kinds == "analyze,collect"
    lines = [ln for ln in _json_lines(logs) if ln.get("trace_id") == trace]
    collect_lines = [ln for ln in lines if ln.get("stage") == "collect"]
    assert any(ln.get("instrument") == "NVDA" and ln["status"] == "ok" for ln in collect_lines)
    published = [
        ln for ln in lines if ln.get("stage") == "analyze" and ln.get("status") == "published"
    ]
    assert published and report["id"] in published[0]["msg"]

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
    eventually(
        lambda: str(jobs.get_job_status(job_id)) in {"SUCCEEDED", "FAILED", "STOPPED"},
        timeout_s=180,
        interval_s=1,
        what=f"job {job_id} ends",
    )
    assert str(jobs.get_job_status(job_id)) == "SUCCEEDED", jobs.get_job_logs(job_id)[-2000:]
    assert _sql(ray_cluster.dsn, "SELECT count(*) FROM reports WHERE instrument_id = 'MSFT'") >= 1


def test_invalid_answers_degrade_to_the_lexicon_and_still_publish(ray_cluster, sim) -> None:
    sim.clear_faults()
    _run(
        ray_cluster,
        "jobs.collect",
        "--tickers",
        "000660.KS",
        "--capabilities",
        "news",
        "--no-analyze",
    )
    sim.set_faults("llm", {"bad_citation_rate": 1.0})  # every answer names an id not given
    try:
        run = _run(ray_cluster, "jobs.analyze", "--tickers", "000660.KS", "--window", "7d", code=3)
    finally:
        sim.clear_faults()
    counts = run["counts"]
    assert run["failed"] == {} and "000660.KS" in run["degraded"]
    assert counts["analysed"] > 0 and counts["reports"] == 1
    # every call cost money, the invalid answers and their repairs included
    recorded = _sql(
        ray_cluster.dsn,
        "SELECT count(*) FROM llm_usage WHERE trace_id = $1 AND cost_micro > 0", run["trace_id"],
    )  # fmt: skip
    assert counts["llm_calls"] == recorded > 0 and counts["cost_usd"] > 0
    row_counts = json.loads(
        _sql(
            ray_cluster.dsn, "SELECT counts::text FROM job_runs WHERE id = $1::uuid", run["run_id"]
        )
    )
    status = _sql(ray_cluster.dsn, "SELECT status FROM job_runs WHERE id = $1::uuid", run["run_id"])
    assert status == "degraded"  # its own status, beside its own exit code
    assert "000660.KS" in row_counts["degraded"] and row_counts["llm_calls"] == counts["llm_calls"]
    notes = _sql(
        ray_cluster.dsn,
        "SELECT string_agg(DISTINCT x.method || ':' || split_part(x.gist, ':', 2), '|') "
        "FROM analyses x JOIN job_runs j ON j.id = $1::uuid "
        "WHERE x.instrument_id = '000660.KS' AND x.created_at >= j.started_at",
        run["run_id"],
    )
    assert notes == "lexicon: InvalidAnswer"  # every article, with the reason
    report = json.loads(
        _sql(
            ray_cluster.dsn,
            "SELECT row_to_json(r)::text FROM reports r WHERE instrument_id = '000660.KS' "
            "ORDER BY created_at DESC LIMIT 1",
        )
    )
    assert report["status"] == "published" and report["method"] == "lexicon"
    assert "InvalidAnswer" in report["coverage"]["degraded"]
    assert "degraded" in report["summary"] or "대체" in report["summary"]


def test_bad_window_is_refused(ray_cluster) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jobs.analyze", "--window", "soon"],
        env=ray_cluster.job_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--window: 'soon' is not a window" in done.stderr

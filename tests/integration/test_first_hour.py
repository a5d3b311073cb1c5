"""The first hour on a new machine: `up` on an empty data dir gives a key and data; jobs run
by hand or through `stockray collect` find the running stack. One stack for the file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cluster.first_run import FIRST_COLLECTION_ID
from cluster.jobs_cli import parse_progress
from core.wait import poll
from tests.integration.test_stack import ROOT, Stack

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1200)]
KEY_LINE = re.compile(r"^admin API key \(shown once\): (sr_\S+)$", re.M)
COLLECT_AAPL = ["--tickers", "AAPL", "--capabilities", "prices", "--no-analyze"]


@dataclass
class FirstUp:
    """The stack, what its first `up` printed, and the key it printed."""

    stack: Stack
    stdout: str
    key: str

    def api(self, path: str, **params: str) -> httpx.Response:
        """GET /api/v1/PATH with the first key."""
        return httpx.get(
            f"http://127.0.0.1:{self.stack.api_port}/api/v1{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
        )


def _shell_env(stack: Stack, **extra: str) -> dict[str, str]:
    """A plain shell's environment: the stack's settings, but nothing `up` gives its jobs."""
    env = {**stack.env, **extra}
    for var in ("STOCKRAY_DATABASE_URL", "RAY_ADDRESS", "RAY_AUTH_MODE"):
        env.pop(var, None)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def first() -> Iterator[FirstUp]:
    root = Path(tempfile.mkdtemp(prefix="srf", dir="/tmp"))  # short: unix socket paths
    stack = Stack(root)
    stack.env["STOCKRAY_FIRST_COLLECTION"] = "on"
    try:
        up = stack.run("up")
        assert up.returncode == 0, up.stdout + up.stderr
        keys = KEY_LINE.findall(up.stdout)
        assert len(keys) == 1, up.stdout
        yield FirstUp(stack, up.stdout, keys[0])
    finally:
        stack.run("down")
        shutil.rmtree(root, ignore_errors=True)


def test_first_up_prints_one_admin_key_with_the_dashboard_and_starts_collecting(
    first: FirstUp,
) -> None:
    lines = first.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("admin API key"))
    assert f"http://127.0.0.1:{first.stack.api_port}/" in lines[at + 1]
    assert first.api("/instruments").status_code == 200
    assert first.api("/jobs").status_code == 200  # an admin key
    started = [line for line in lines if line.startswith("first collection started")]
    assert len(started) == 1, first.stdout
    assert f"job {FIRST_COLLECTION_ID} (5 instruments)" in started[0]


def test_the_first_collection_puts_bars_on_the_api(first: FirstUp) -> None:
    start = (datetime.now(UTC) - timedelta(days=400)).strftime("%Y-%m-%dT00:00:00Z")

    def bars_now() -> list:
        resp = first.api("/instruments/AAPL/bars", start=start)
        assert resp.status_code == 200, resp.text
        return resp.json()["bars"]

    bars = poll(bars_now, timeout_s=600, interval_s=3)
    assert bars, "no AAPL bar through the API after the first collection"


def test_a_second_up_and_status_print_no_key_and_start_nothing(first: FirstUp) -> None:
    again = first.stack.run("up")
    assert again.returncode == 0, again.stdout + again.stderr
    status = first.stack.run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for out in (again.stdout + again.stderr, status.stdout + status.stderr):
        assert "API key" not in out and "sr_" not in out
        assert "first collection" not in out


def test_a_job_run_by_hand_in_a_shell_finds_the_stack(first: FirstUp) -> None:
    done = _run(["-m", "jobs.collect", *COLLECT_AAPL], _shell_env(first.stack))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads([ln for ln in done.stdout.splitlines() if ln.startswith('{"')][-1])
    assert summary["kind"] == "collect" and summary["failed"] == {}


def test_stockray_collect_submits_follows_and_exits_with_the_jobs_code(first: FirstUp) -> None:
    done = first.stack.run("collect", *COLLECT_AAPL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    job_id = re.search(r"submitted job (\S+)", done.stdout)
    assert job_id, done.stdout
    assert any(parse_progress(line) for line in lines), done.stdout[-3000:]
    assert f"job {job_id[1]} succeeded (exit 0)" in lines[-1]
    seen = first.api(f"/jobs/{job_id[1]}")  # the same Ray Job the API and scheduler run
    assert seen.status_code == 200 and "SUCCEEDED" in seen.text, seen.text


def test_stockray_collect_refuses_an_unknown_ticker_before_submitting(first: FirstUp) -> None:
    done = first.stack.run("collect", "--tickers", "NOPE")
    assert done.returncode == 2
    assert "unknown ticker NOPE" in done.stderr
    assert "submitted" not in done.stdout


def test_without_a_stack_a_job_says_what_to_do(first: FirstUp, tmp_path: Path) -> None:
    env = _shell_env(first.stack, STOCKRAY_HOME=str(tmp_path / "elsewhere"))
    done = _run(["-m", "jobs.collect", *COLLECT_AAPL], env)
    assert done.returncode == 2
    assert "run `stockray up` first" in done.stderr
    assert "STOCKRAY_DATABASE_URL and RAY_ADDRESS" in done.stderr
    assert "Traceback" not in done.stderr

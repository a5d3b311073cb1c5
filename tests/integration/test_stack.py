"""`stockray up/status/down` as a user runs them: real processes, real ports, data kept."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.sync.client import connect as ws_connect

from cluster import ray_head
from cluster.state import StackState
from core.storage.db import connect
from core.wait import poll
from tests.support import free_port, free_port_block

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
METRICS_TOKEN = "stack-metrics-token-0123456789"


class Stack:
    """Runs the `stockray` CLI against its own data dir and ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.api_port = free_port()
        self.env = {
            **os.environ,
            "STOCKRAY_HOME": str(self.home),
            "STOCKRAY_METRICS_TOKEN": METRICS_TOKEN,
            "STOCKRAY_RAY_TEMP_DIR": str(root / "ray"),
            "STOCKRAY_API_PORT": str(self.api_port),
            "STOCKRAY_DASHBOARD_PORT": str(free_port()),
            "STOCKRAY_RAY_PORT": str(free_port()),
            "STOCKRAY_RAY_CLIENT_PORT": str(free_port()),
            "STOCKRAY_RAY_METRICS_PORT": str(free_port()),
            "STOCKRAY_RAY_AGENT_PORT": str(free_port()),
            "STOCKRAY_SIM_PORT": str(free_port_block(6)),
            # These tests assert on data they write themselves; test_first_hour.py turns it on.
            "STOCKRAY_FIRST_COLLECTION": "off",
        }
        self.env.pop("RAY_ADDRESS", None)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`stockray ARGS` with this stack's environment (plus `env`)."""
        return subprocess.run(
            [sys.executable, "-m", "cluster.cli", *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def readyz(self) -> int:
        """Status code of GET /readyz (0 when nothing answers)."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.api_port}/readyz", timeout=5).status_code
        except httpx.HTTPError:
            return 0

    def dsn(self) -> str:
        """The embedded Postgres URI recorded by `up`."""
        uri = StackState.load(self.home).postgres.uri
        assert uri
        return uri

    def ports(self) -> set[int]:
        """Every port this stack's settings name."""
        ports = {int(v) for k, v in self.env.items() if k.endswith("_PORT") and "STOCKRAY" in k}
        sim = int(self.env["STOCKRAY_SIM_PORT"])
        return ports | set(range(sim, sim + 6))  # admin + one per provider

    def processes(self) -> list[str]:
        """Processes naming this stack's dirs, or listening on one of its ports."""
        markers = (str(self.root), str(self.home))
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if any(m in cmdline for m in markers) and proc.pid != os.getpid():
                found.append(cmdline[:120])
        ports = self.ports()
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port in ports:
                found.append(f"pid {conn.pid} listening on {conn.laddr.port}")
        return found


def _new_stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="srs", dir="/tmp"))  # short: unix socket paths
    s = Stack(root)
    yield s
    s.run("down")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def stack() -> Iterator[Stack]:
    """A new data dir and ports, for a test of an `up` that must fail."""
    yield from _new_stack()


@pytest.fixture(scope="module")
def shared() -> Iterator[Stack]:
    """One data dir and ports for the tests that run a stack, in file order: the first
    takes it through up/down/up from a fresh home and leaves it running; the next ones
    `up` it again (idempotent) and use it, which saves a whole `up` each."""
    yield from _new_stack()


def _query(dsn: str, sql: str) -> object:
    async def go() -> object:
        conn = await connect(dsn)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(go())


def _kill_postgres(home: Path) -> None:
    pid = int((home / "pg" / "postmaster.pid").read_text().splitlines()[0])
    proc = psutil.Process(pid)
    proc.kill()
    proc.wait(10)


def test_up_status_down_up_keeps_data(shared: Stack) -> None:
    stack = shared
    up = stack.run("up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "answered 200" in up.stdout
    assert stack.readyz() == 200
    assert stack.run("status").returncode == 0

    # The REST API through the real Serve proxy: a key from the CLI opens it.
    created = stack.run("keys", "create", "--name", "stack-test", "--scope", "read")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    api = f"http://127.0.0.1:{stack.api_port}/api/v1/instruments"
    assert httpx.get(api, timeout=10).status_code == 401
    listed = httpx.get(api, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert listed.status_code == 200 and "AAPL" in listed.text

    stack_dsn = stack.dsn()
    _query(
        stack_dsn,
        "INSERT INTO job_runs (kind, trace_id, status) VALUES ('test', 'keep', 'succeeded')",
    )

    again = stack.run("up")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already running") == 5, again.stdout

    _kill_postgres(stack.home)
    down_pg = stack.run("status")
    assert down_pg.returncode == 1
    assert "[DOWN] postgres" in down_pg.stdout
    revived = stack.run("up")
    assert revived.returncode == 0, revived.stderr
    assert "postgres  started" in revived.stdout
    assert stack.readyz() == 200
    assert _query(stack.dsn(), "SELECT count(*) FROM job_runs WHERE trace_id = 'keep'") == 1

    down = stack.run("down")
    assert down.returncode == 0, down.stderr
    assert stack.readyz() == 0
    assert stack.processes() == []
    status = stack.run("status")
    assert status.returncode == 1
    assert "[DOWN] ray" in status.stdout

    back = stack.run("up")
    assert back.returncode == 0, back.stderr
    assert "schema    up to date" in back.stdout
    assert _query(stack.dsn(), "SELECT count(*) FROM job_runs WHERE trace_id = 'keep'") == 1


def test_readme_backfill_command_runs_on_the_stack(shared: Stack) -> None:
    stack = shared
    up = stack.run("up")
    assert up.returncode == 0, up.stdout + up.stderr
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- backfill-command -->")[1].split("```bash")[1].split("```")[0]
    command = " ".join(line.rstrip("\\").strip() for line in block.strip().splitlines()).replace(
        "http://127.0.0.1:8265", f"http://127.0.0.1:{stack.env['STOCKRAY_DASHBOARD_PORT']}"
    )
    done = subprocess.run(
        command, shell=True, cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads([ln for ln in done.stdout.splitlines() if ln.startswith('{"kind"')][-1])
    assert summary["chunks_failed"] == {}
    assert summary["rows"] > 0
    stored = _query(stack.dsn(), "SELECT count(*) FROM backfill_chunks WHERE status = 'done'")
    assert stored == summary["chunks_total"]


def test_taken_port_fails_cleanly(stack: Stack) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", stack.api_port))
        squatter.listen()
        done = stack.run("up")
    assert done.returncode == 1
    assert f"port {stack.api_port} (STOCKRAY_API_PORT) is already in use" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert stack.processes() == []
    assert not (stack.home / "pg" / "postmaster.pid").exists()


def test_unreachable_database_url_fails_cleanly(stack: Stack) -> None:
    url = f"postgresql://app:s3cr3t-pw@127.0.0.1:{free_port()}/stockray"
    done = stack.run("up", STOCKRAY_DATABASE_URL=url)
    assert done.returncode == 1
    assert "STOCKRAY_DATABASE_URL is unreachable" in done.stderr
    assert "s3cr3t-pw" not in done.stderr + done.stdout
    assert stack.processes() == []


def test_broken_yaml_fails_before_anything_starts(stack: Stack, tmp_path: Path) -> None:
    configs = ROOT / "configs"
    for path in configs.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "serve.yaml").write_text("applications: [\n")
    done = stack.run("up", STOCKRAY_CONFIG_DIR=str(tmp_path))
    assert done.returncode == 2
    assert "serve.yaml" in done.stderr
    assert "Traceback" not in done.stderr
    assert stack.processes() == []
    assert not stack.home.exists()


def test_metrics_and_logs_on_the_stack(shared: Stack) -> None:
    stack = shared
    up = stack.run("up")
    assert up.returncode == 0, up.stdout + up.stderr
    created = stack.run("keys", "create", "--name", "metrics-test", "--scope", "admin")
    key = created.stdout.strip()
    base = f"http://127.0.0.1:{stack.api_port}"
    auth = {"Authorization": f"Bearer {key}"}
    for _ in range(3):
        assert httpx.get(f"{base}/api/v1/instruments", headers=auth, timeout=10).status_code == 200
    assert httpx.get(f"{base}/api/v1/providers", headers=auth, timeout=60).status_code == 200
    httpx.get(f"{base}/api/v1/instruments", headers={"X-API-Key": key + "x"}, timeout=10)
    # Browsers put the key in the WebSocket URL: that URL must not reach a log either.
    with ws_connect(f"ws://127.0.0.1:{stack.api_port}/ws?key={key}", open_timeout=30) as ws:
        ws.send(json.dumps({"type": "subscribe", "instruments": ["AAPL"], "events": ["bar"]}))
        assert json.loads(ws.recv(timeout=30))["type"] in ("subscribed", "heartbeat")

    # HAProxy's admin socket (mode 666) sits in the data dir's 0700 folder, not in /tmp.
    if ray_head.serve_env(stack.home):
        folder = stack.home / "haproxy"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert list(folder.glob("*/admin.sock")), sorted(folder.rglob("*"))
    assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401  # no token, no metrics

    # Replicas record through Ray's metrics; /metrics gathers them from the node's agent.
    line = "stockray_http_requests_total{"
    metrics_auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    text = poll(
        lambda: httpx.get(f"{base}/metrics", headers=metrics_auth, timeout=10).text,
        until=lambda page: line in page and 'route="/api/v1/instruments"' in page,
        timeout_s=60,
        interval_s=2,
    )
    assert line in text and 'route="/api/v1/instruments"' in text, text[:2000]
    assert "stockray_http_request_seconds_bucket{" in text
    assert "ray_stockray" not in text  # renamed to the names the API documents

    # No log line anywhere (Serve replicas, proxy, actors, jobs, the CLI) holds the key.
    secret = key[-43:]  # sr_<8-char prefix>_<43-char secret>; "_" may occur in either
    token = (Path.home() / ".ray" / "auth_token").read_text().strip()
    leaks = []
    for path in [
        *stack.root.rglob("*.log"),
        *stack.root.rglob("*.out"),
        *stack.root.rglob("*.err"),
    ]:
        text = path.read_text(errors="replace")
        if secret in text or token in text:
            leaks.append(str(path))
    assert leaks == []

"""The chaos bench's stack: `stockray up` with the sim in a temp home, on free ports."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from cluster.postgres import stop_embedded
from cluster.ray_head import free_port
from cluster.state import StackState
from core.storage.db import connect
from tests.support import free_port_block

EXCEPTION_LINE = re.compile(r"\b[\w.]+(?:Error|Exception): [^\"\\\n]{0,120}")
SIM_PORTS = 6  # admin + one per provider (cluster/sim_process.py)


class ChaosStack:
    """A whole stack run through the `stockray` CLI against its own home dir and ports."""

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="src", dir="/tmp"))  # short: unix sockets
        self.home = self.root / "home"
        self.api_port = free_port()
        self.sim_port = free_port_block(SIM_PORTS)
        self.env = {
            **os.environ,
            "STOCKRAY_HOME": str(self.home),
            "STOCKRAY_FIRST_COLLECTION": "off",  # the bench writes its own rows
            "STOCKRAY_RAY_TEMP_DIR": str(self.root / "ray"),
            "STOCKRAY_API_PORT": str(self.api_port),
            "STOCKRAY_DASHBOARD_PORT": str(free_port()),
            "STOCKRAY_RAY_PORT": str(free_port()),
            "STOCKRAY_RAY_CLIENT_PORT": str(free_port()),
            "STOCKRAY_RAY_METRICS_PORT": str(free_port()),
            "STOCKRAY_RAY_AGENT_PORT": str(free_port()),
            "STOCKRAY_SIM_PORT": str(self.sim_port),
            "RAY_AUTH_MODE": "token",
            **(extra_env or {}),
        }
        self.env.pop("RAY_ADDRESS", None)

    @property
    def api_url(self) -> str:
        """Base URL of the API (HAProxy in front of the `Api` replicas)."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sim_admin(self) -> str:
        """Base URL of the sim's admin API."""
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def sim_yahoo(self) -> str:
        """Base URL of the sim's Yahoo server (the first provider port)."""
        return f"http://127.0.0.1:{self.sim_port + 1}"

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`stockray ARGS` with this stack's environment."""
        return subprocess.run(
            [sys.executable, "-m", "cluster.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def up(self) -> None:
        """`stockray up`, or raise with its output."""
        done = self.cli("up")
        if done.returncode != 0:
            raise RuntimeError(f"stockray up failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")

    def down(self, keep_logs: Path | None = None) -> None:
        """`stockray down` and delete the temp home (its Ray and stack logs copied to
        `keep_logs` first, when given)."""
        try:
            self.cli("down", timeout=300)
        finally:
            if keep_logs:
                for logs in (self.root / "ray").glob("session_2*/logs"):
                    shutil.copytree(logs, keep_logs / "ray", dirs_exist_ok=True)
                if (self.home / "var" / "logs").exists():
                    shutil.copytree(self.home / "var" / "logs", keep_logs / "var")
            shutil.rmtree(self.root, ignore_errors=True)

    def state(self) -> StackState:
        """What `up` recorded."""
        return StackState.load(self.home)

    @property
    def dsn(self) -> str:
        """The embedded Postgres URI."""
        uri = self.state().postgres.uri
        assert uri, "no Postgres URI recorded"
        return uri

    @property
    def gcs_address(self) -> str:
        """The Ray head's GCS address."""
        address = self.state().ray.gcs_address
        assert address, "no Ray head recorded"
        return address

    def job_env(self) -> dict[str, str]:
        """Environment for a job driver run by hand against this stack."""
        return {**self.env, "RAY_ADDRESS": self.gcs_address, "STOCKRAY_DATABASE_URL": self.dsn}

    def key(self, scope: str, name: str) -> str:
        """A new API key of `scope`."""
        done = self.cli("keys", "create", "--name", name, "--scope", scope, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"keys create failed: {done.stderr[-2000:]}")
        return done.stdout.strip().splitlines()[-1]

    def stop_postgres(self) -> None:
        """Stop the embedded Postgres (fast shutdown)."""
        pgdata = self.state().postgres.pgdata
        assert pgdata
        stop_embedded(Path(pgdata))

    def replica_exceptions(self, limit: int = 8) -> dict[str, int]:
        """Exception lines (`pkg.Error: message`) in the Serve replicas' logs, most frequent
        first: the evidence behind a 500."""
        found: Counter[str] = Counter()
        for path in (self.root / "ray").glob("session_*/logs/serve/replica_*.log"):
            for line in path.read_text(errors="replace").splitlines():
                for match in EXCEPTION_LINE.finditer(line):
                    found[f"{path.name.split('_')[2]}: {match.group(0)}"] += 1
        return dict(found.most_common(limit))

    def readyz(self) -> int:
        """Status code of GET /readyz (0 when nothing answers)."""
        try:
            return httpx.get(f"{self.api_url}/readyz", timeout=5).status_code
        except httpx.HTTPError:
            return 0

    def wait_ready(self, timeout_s: float = 300) -> float:
        """Seconds until /readyz answers 200 (raise after `timeout_s`)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.readyz() == 200:
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"/readyz not 200 after {timeout_s}s")


async def sql_rows(dsn: str, query: str, *args: Any) -> list[Any]:
    """Rows of one query on a fresh connection (retried while Postgres comes back)."""
    for attempt in range(30):
        try:
            conn = await connect(dsn)
        except OSError:
            if attempt == 29:
                raise
            await asyncio.sleep(1)
            continue
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()
    return []

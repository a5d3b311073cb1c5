"""`stockray monitoring up|down|status`: Prometheus and Alertmanager on loopback for the stack.

Config, data and pids live under `<STOCKRAY_HOME>/monitoring/`, logs in `<home>/logs/`.
`up` renders the configs (cluster/alerting.py), checks them with promtool (and amtool when
installed), then starts what is not running and makes what runs reload (SIGHUP): running it
twice is fine. `down` stops only the processes `up` recorded (their command lines name this
data dir's config files). `status` exits 1 unless both answer their readiness check.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

from cluster import alerting
from cluster.state import StackError
from configs.errors import ConfigError
from configs.settings import Settings
from core.wait import poll

START_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
TOKEN_FILE, RULES_FILE = "stockray-metrics.token", "alerts.yml"
REDACT_FILE = "alertmanager-redact.sed"  # Alertmanager's log goes through `sed -f` this


@dataclass(frozen=True)
class Service:
    """One binary `up` runs: its name, where it listens and its config file."""

    name: str
    binaries: tuple[str, ...]
    port: int
    config: Path
    data: Path

    @property
    def url(self) -> str:
        """Where it answers, on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def binary(self) -> str:
        """The installed binary; StackError naming the Debian package when there is none."""
        for name in self.binaries:
            found = shutil.which(name)
            if found:
                return found
        package = "prometheus" if self.name == "prometheus" else "prometheus-alertmanager"
        raise StackError(f"{self.binaries[0]} is not installed: `apt-get install {package}`")

    def argv(self) -> list[str]:
        """Its command line: loopback only (Alertmanager's cluster port off)."""
        listen = f"--web.listen-address=127.0.0.1:{self.port}"
        if self.name == "prometheus":
            return [
                self.binary(), f"--config.file={self.config}", listen,
                f"--storage.tsdb.path={self.data}", "--storage.tsdb.retention.time=15d",
            ]  # fmt: skip
        return [
            self.binary(), f"--config.file={self.config}", listen,
            f"--storage.path={self.data}", "--cluster.listen-address=",
        ]  # fmt: skip


@dataclass
class Running:
    """What `up` recorded of one service."""

    pid: int
    url: str


def folder(settings: Settings) -> Path:
    """`<home>/monitoring`, 0700: it holds the token and receivers' secrets."""
    path = settings.home / "monitoring"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def services(settings: Settings) -> list[Service]:
    """Alertmanager first (Prometheus sends to it), then Prometheus."""
    base = settings.home / "monitoring"
    return [
        Service(
            "alertmanager", ("prometheus-alertmanager", "alertmanager"),
            settings.alertmanager_port, base / "alertmanager.yml", base / "alertmanager-data",
        ),
        Service(
            "prometheus", ("prometheus",),
            settings.prometheus_port, base / "prometheus.yml", base / "prometheus-data",
        ),
    ]  # fmt: skip


def _state_path(settings: Settings) -> Path:
    return settings.home / "monitoring" / "state.json"


def load_state(settings: Settings) -> dict[str, Running]:
    """The recorded pids (empty when `up` never ran here or `down` cleared them)."""
    path = _state_path(settings)
    if not path.exists():
        return {}
    try:
        return {k: Running(**v) for k, v in json.loads(path.read_text()).items()}
    except (ValueError, TypeError) as exc:
        raise StackError(f"{path} is unreadable ({exc}); remove it") from None


def _save_state(settings: Settings, state: dict[str, Running]) -> None:
    path = _state_path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: asdict(v) for k, v in state.items()}, indent=2))
    os.replace(tmp, path)


def _process(service: Service, running: Running | None) -> psutil.Process | None:
    """The live process `up` started for `service` (its command line names our config)."""
    if running is None:
        return None
    try:
        proc = psutil.Process(running.pid)
        if proc.status() != psutil.STATUS_ZOMBIE and any(
            arg == f"--config.file={service.config}" for arg in proc.cmdline()
        ):
            return proc
    except psutil.Error:
        pass
    return None


def ready(url: str) -> bool:
    """Whether `url`/-/ready answers 200."""
    try:
        return httpx.get(f"{url}/-/ready", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def render(settings: Settings) -> dict[str, str]:
    """Every file `up` writes, by name in `<home>/monitoring` (all rendered before any is
    written; Prometheus' config names its rules and token file relative to itself)."""
    if settings.metrics_token is None:
        raise ConfigError(
            "environment variable STOCKRAY_METRICS_TOKEN",
            None,
            "required: Prometheus scrapes /metrics with it. Set the same value for `stockray "
            "up` and `stockray monitoring up` (e.g. `openssl rand -hex 32`; restart the stack "
            "after setting it)",
        )
    token, rules = Path(TOKEN_FILE), Path(RULES_FILE)
    return {
        TOKEN_FILE: settings.metrics_token.get_secret_value() + "\n",
        RULES_FILE: alerting.dump(alerting.rules(settings)),
        "prometheus.yml": alerting.dump(alerting.prometheus_config(settings, rules, token)),
        "alertmanager.yml": alerting.dump(alerting.alertmanager_config(settings)),
        REDACT_FILE: alerting.sed_redaction(settings),
    }


def _check(folder: Path) -> None:
    """promtool (and amtool, when installed) accept the configs in `folder`; StackError if not."""
    checks = [["promtool", "check", "config", str(folder / "prometheus.yml")]]
    if shutil.which("amtool"):  # Debian ships it with the alertmanager; the start checks too
        checks.append(["amtool", "check-config", str(folder / "alertmanager.yml")])
    for argv in checks:
        if not shutil.which(argv[0]):
            raise StackError(f"{argv[0]} is not installed: `apt-get install prometheus`")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise StackError(f"{argv[0]} refused the rendered config:\n{done.stdout}{done.stderr}")


def write_checked(settings: Settings) -> set[str]:
    """Render, write beside the live files, check, then move into place: a refused config
    leaves the running one as it was. Returns the names of the files that changed."""
    files = render(settings)
    base = folder(settings)
    changed = {n for n, text in files.items() if _read(base / n) != text}
    staging = Path(tempfile.mkdtemp(prefix=".check-", dir=base))
    try:
        for name, text in files.items():
            alerting.write_private(staging / name, text)
        _check(staging)
        for name in files:
            os.replace(staging / name, base / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return changed


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _start(service: Service, log: Path) -> Running:
    service.data.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        if service.name != "alertmanager":
            proc = subprocess.Popen(
                service.argv(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        else:  # its log passes `sed` (it ends with Alertmanager's output), secrets redacted
            redact = subprocess.Popen(
                ["sed", "-u", "-f", str(service.config.parent / REDACT_FILE)],
                stdin=subprocess.PIPE, stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
            proc = subprocess.Popen(
                service.argv(), stdout=redact.stdin, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            assert redact.stdin is not None
            redact.stdin.close()
    up = poll(lambda: proc.poll() is not None or ready(service.url), timeout_s=START_TIMEOUT_S)
    if not up or proc.poll() is not None:
        if proc.poll() is None:
            proc.kill()
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
        raise StackError(f"{service.name} did not start on {service.url} (log: {log}):\n{tail}")
    return Running(proc.pid, service.url)


def up(settings: Settings) -> list[str]:
    """Write the configs, start what is not running, reload what is; lines to print."""
    changed = write_checked(settings)
    state, lines = load_state(settings), []
    for service in services(settings):
        log = settings.home / "logs" / f"{service.name}.log"
        proc = _process(service, state.get(service.name))
        # New secrets need a new log filter: Alertmanager restarts rather than reloads.
        restart = service.name == "alertmanager" and REDACT_FILE in changed
        if proc is not None and state[service.name].url == service.url and not restart:
            proc.send_signal(signal.SIGHUP)  # both re-read their config files on SIGHUP
            lines.append(f"  [ok ] {service.name:<12} {service.url}  already running: reloaded")
            continue
        if proc is not None:  # its port or its secrets changed: restart it
            _stop(proc)
        state[service.name] = _start(service, log)
        _save_state(settings, state)
        lines.append(f"  [ok ] {service.name:<12} {service.url}  started (log: {log})")
    return lines


def _stop(proc: psutil.Process) -> None:
    try:
        proc.terminate()
        proc.wait(STOP_GRACE_S)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.NoSuchProcess:
        pass


def down(settings: Settings) -> list[str]:
    """Stop what `up` recorded; nothing running is fine. Lines to print."""
    state, lines = load_state(settings), []
    for service in services(settings):
        proc = _process(service, state.pop(service.name, None))
        if proc is None:
            lines.append(f"  [-- ] {service.name:<12} not running")
            continue
        _stop(proc)
        lines.append(f"  [ok ] {service.name:<12} stopped")
    if _state_path(settings).parent.exists():
        _save_state(settings, state)
    return lines


def _targets(url: str) -> str:
    """Prometheus' scrape targets, `job up|down (error)` each."""
    try:
        answer = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    except (httpx.HTTPError, ValueError, KeyError):
        return "targets unknown"
    shown = []
    for target in answer:
        job, health = target["labels"].get("job", "?"), target.get("health", "unknown")
        error = f" ({target['lastError']})" if target.get("lastError") else ""
        shown.append(f"{job} {health}{error}")
    return "targets: " + ", ".join(shown)


def _alerts(url: str) -> str:
    """How many alerts Alertmanager holds, by state."""
    try:
        alerts = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return "alerts unknown"
    active = [a for a in alerts if a.get("status", {}).get("state") == "active"]
    held = len(alerts) - len(active)
    return f"{len(active)} alerts active, {held} silenced or inhibited"


def status(settings: Settings) -> tuple[bool, list[str]]:
    """(both ready, lines to print)."""
    state, ok, lines = load_state(settings), True, []
    for service in services(settings):
        running = state.get(service.name)
        proc = _process(service, running)
        if proc is None or running is None or not ready(running.url):
            ok = False
            lines.append(f"  [DOWN] {service.name:<12} {service.url}  not running")
            continue
        detail = _targets(running.url) if service.name == "prometheus" else _alerts(running.url)
        lines.append(f"  [ok ] {service.name:<12} {running.url}  pid {proc.pid}; {detail}")
    return ok, lines


def _receivers(settings: Settings) -> list[str]:
    lines = []
    for level, kinds in alerting.receivers_summary(settings).items():
        shown = ", ".join(kinds) or "no receiver set (Alertmanager's page only)"
        lines.append(f"  {level:<9} → {shown}")
    return lines


def cmd_up(settings: Settings) -> int:
    """Start Prometheus and Alertmanager for the stack (or reload them)."""
    lines = up(settings)
    print(f"stockray monitoring up: config and data in {settings.home / 'monitoring'}")
    print("\n".join([*lines, "routes (severity → receivers):", *_receivers(settings)]))
    return 0


def cmd_down(settings: Settings) -> int:
    """Stop the Prometheus and Alertmanager `monitoring up` started."""
    print("\n".join(down(settings)))
    return 0


def cmd_status(settings: Settings) -> int:
    """Show whether Prometheus and Alertmanager run; exit 1 unless both do."""
    ok, lines = status(settings)
    print("\n".join(lines))
    return 0 if ok else 1


ACTIONS = {"up": cmd_up, "down": cmd_down, "status": cmd_status}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `monitoring up|down|status` on the `stockray` parser."""
    parser = sub.add_parser("monitoring", help="Prometheus and Alertmanager for the stack")
    actions = parser.add_subparsers(dest="monitoring_command", required=True)
    for name, fn in ACTIONS.items():
        action = actions.add_parser(name, help=(fn.__doc__ or "").splitlines()[0])
        action.set_defaults(monitoring_handler=fn)

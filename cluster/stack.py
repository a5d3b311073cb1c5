"""The embedded stack: Postgres, a Ray head and the Serve app, brought up and down as one.

`up` reconciles: each component already running is reported and left alone, each missing
one is started. If a step fails, what this `up` started is stopped again, so nothing is
left half-started. `down` stops exactly what `up` recorded in `<home>/stack.json`.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cluster import postgres, ray_head, scheduler, serve_deploy, sim_process
from cluster.first_run import FirstRun, create_first_key, start_first_collection
from cluster.state import PostgresState, RayState, ServeState, StackError, StackState
from configs.settings import Settings


@dataclass
class Component:
    """One line of `up`/`status` output."""

    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    """What `up`, `down` or `status` found and did."""

    components: list[Component] = field(default_factory=list)
    ready_s: float | None = None
    first_run: FirstRun | None = None

    def add(self, name: str, ok: bool, detail: str) -> None:
        """Record one component's state."""
        self.components.append(Component(name, ok, detail))

    @property
    def ok(self) -> bool:
        """Whether every component is up."""
        return all(c.ok for c in self.components)


def app_name(settings: Settings) -> str:
    """Name of the Serve application stockray deploys."""
    return settings.serve.applications[0].name


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _check_ports(settings: Settings, ray: bool, sim: bool) -> None:
    wanted = []
    if ray:
        wanted += [
            ("STOCKRAY_API_PORT", settings.http_host, settings.http_port),
            ("STOCKRAY_DASHBOARD_PORT", settings.dashboard_host, settings.dashboard_port),
            ("STOCKRAY_RAY_PORT", ray_head.NODE_IP, settings.ray_port),
            ("STOCKRAY_RAY_CLIENT_PORT", ray_head.NODE_IP, settings.ray_client_port),
            ("STOCKRAY_RAY_METRICS_PORT", ray_head.NODE_IP, settings.ray_metrics_port),
            ("STOCKRAY_RAY_AGENT_PORT", ray_head.NODE_IP, settings.ray_agent_port),
        ]
    if sim:
        wanted += [
            ("STOCKRAY_SIM_PORT", "127.0.0.1", p) for p in sim_process.ports(settings).values()
        ]
    for var, host, port in wanted:
        if not _port_free(host, port):
            raise StackError(
                f"port {port} ({var}) is already in use by another process; "
                f"stop that process or set {var} to a free port"
            )


def _ray_running(settings: Settings, state: RayState) -> bool:
    if settings.ray_address:
        return ray_head.dashboard_alive(settings.dashboard_url)
    return (
        state.started_by_up
        and bool(ray_head.head_processes(state))
        and ray_head.dashboard_alive(state.dashboard_url or settings.dashboard_url)
    )


def _postgres_up(settings: Settings, state: StackState, undo: list, report: Report) -> str:
    if settings.database_url is not None:
        dsn = settings.database_url.get_secret_value()
        problem = postgres.check_reachable(dsn)
        if problem:
            raise StackError(
                f"STOCKRAY_DATABASE_URL is unreachable ({problem}); fix the URL or unset it "
                "to use the embedded Postgres"
            )
        state.postgres = PostgresState(embedded=False)
        report.add("postgres", True, "external (STOCKRAY_DATABASE_URL), reachable")
        return dsn
    pgdata = postgres.pgdata_dir(settings)
    was_running = postgres.embedded_running(pgdata)
    state.postgres = postgres.start_embedded(settings)
    if was_running:
        report.add("postgres", True, f"already running (embedded, data in {pgdata})")
    else:
        undo.append(("postgres", lambda: postgres.stop_embedded(pgdata)))
        report.add("postgres", True, f"started (embedded, data in {pgdata})")
    return state.postgres.uri or ""


def _sim_up(settings: Settings, state: StackState, undo: list, report: Report) -> None:
    if not sim_process.wanted(settings):
        state.sim = type(state.sim)()
        return
    if sim_process.alive(state.sim):
        report.add("sim", True, f"already running, admin {state.sim.admin_url}")
        return
    state.sim = sim_process.start(settings)
    started = state.sim
    undo.append(("sim", lambda: sim_process.stop(started)))
    report.add("sim", True, f"started (no provider keys set), admin {state.sim.admin_url}")


def _stack_env(settings: Settings, state: StackState, dsn: str) -> dict[str, str]:
    return {
        "STOCKRAY_HOME": str(settings.home),
        "STOCKRAY_CONFIG_DIR": str(settings.config_dir),
        "STOCKRAY_DATABASE_URL": dsn,
        **sim_process.provider_env(settings, state.sim),
    }


def _job_env(settings: Settings, state: StackState, dsn: str) -> dict[str, str]:
    """The environment a hand-run `python -m jobs.NAME` takes to join this stack."""
    where = urlsplit(state.ray.dashboard_url or settings.dashboard_url)
    env = {
        **_stack_env(settings, state, dsn),
        "STOCKRAY_DASHBOARD_HOST": where.hostname or settings.dashboard_host,
        "STOCKRAY_DASHBOARD_PORT": str(where.port or settings.dashboard_port),
        "RAY_AUTH_MODE": "token",  # the head `up` starts authenticates every client
    }
    address = settings.ray_address or state.ray.gcs_address
    if address:
        env["RAY_ADDRESS"] = address  # ray.init(address="auto") takes it over its own lookup
    return env


def _ray_up(settings: Settings, state: StackState, dsn: str, undo: list, report: Report) -> None:
    if settings.ray_address:
        if not ray_head.dashboard_alive(settings.dashboard_url):
            raise StackError(
                f"RAY_ADDRESS is set but its dashboard {settings.dashboard_url} does not answer; "
                "set STOCKRAY_DASHBOARD_HOST/PORT to the cluster's dashboard"
            )
        state.ray = RayState(dashboard_url=settings.dashboard_url)
        report.add("ray", True, f"external cluster {settings.ray_address}")
        return
    if _ray_running(settings, state.ray):
        report.add("ray", True, f"already running, dashboard {state.ray.dashboard_url}")
        return
    log = settings.home / "logs" / "ray-start.log"
    state.ray = ray_head.start_head(settings, _stack_env(settings, state, dsn), log)
    started = state.ray
    undo.append(("ray", lambda: ray_head.stop_head(started)))
    ray_head.wait_dashboard(settings.dashboard_url, timeout_s=60)
    report.add(
        "ray", True, f"started head {state.ray.gcs_address}, dashboard {settings.dashboard_url}"
    )


def _serve_up(settings: Settings, state: StackState, dsn: str, undo: list, report: Report) -> None:
    name = app_name(settings)
    status = serve_deploy.applications(settings.dashboard_url).get(name, {}).get("status")
    if status == "RUNNING":
        report.add("serve", True, f"already running, API {settings.api_url}")
        return
    # A head we started passes the stack env to every worker; an external one needs it here.
    env = _stack_env(settings, state, dsn) if settings.ray_address else None
    serve_deploy.deploy(settings.dashboard_url, serve_deploy.serve_config(settings, env))
    if settings.ray_address:
        undo.append(("serve", lambda: serve_deploy.undeploy(settings.dashboard_url, [name])))
    state.serve = ServeState(app=name, api_url=settings.api_url, deployed_by_up=True)
    report.add("serve", True, f"deployed app {name!r}, API {settings.api_url}")


def _scheduler_up(settings: Settings, state: StackState, dsn: str, report: Report) -> None:
    alive, _ = scheduler.state(dsn)
    if alive:
        report.add("scheduler", True, "already running")
        return
    scheduler.ensure_started(settings.ray_address or state.ray.gcs_address or "auto")
    report.add("scheduler", True, f"started ({len(settings.schedules.schedules)} schedules)")


def up(settings: Settings) -> Report:
    """Start whatever is not running; on failure stop what this call started and raise."""
    started_at = time.monotonic()
    settings.home.mkdir(parents=True, exist_ok=True)
    state = StackState.load(settings.home)
    report = Report()
    undo: list[tuple[str, Callable[[], object]]] = []
    # Ports are checked before anything starts: a taken port leaves nothing behind.
    _check_ports(
        settings,
        ray=not settings.ray_address and not _ray_running(settings, state.ray),
        sim=sim_process.wanted(settings) and not sim_process.alive(state.sim),
    )
    try:
        _sim_up(settings, state, undo, report)
        dsn = _postgres_up(settings, state, undo, report)
        applied = postgres.prepare_database(dsn, settings)
        report.add("schema", True, f"applied {', '.join(applied)}" if applied else "up to date")
        _ray_up(settings, state, dsn, undo, report)
        _serve_up(settings, state, dsn, undo, report)
        _scheduler_up(settings, state, dsn, report)
        state.job_env = _job_env(settings, state, dsn)
        state.save(settings.home)
        # Submitted before the API answers, so the first collection runs while replicas start;
        # an external cluster's nodes do not have the stack's settings: the job carries them.
        env = _stack_env(settings, state, dsn) if settings.ray_address else None
        _first_run(report, lambda: start_first_collection(settings, dsn, env))
        serve_deploy.wait_ready(settings.api_url, settings.up_timeout_s)
    except BaseException:
        _rollback(settings, state, undo)
        raise
    report.ready_s = time.monotonic() - started_at
    _first_run(report, lambda: create_first_key(dsn, report.first_run or FirstRun()))
    return report


def _first_run(report: Report, step: Callable[[], FirstRun]) -> None:
    # The stack is up either way: a failure here is a line to read, not a reason to stop it.
    try:
        report.first_run = step()
    except Exception as exc:
        report.add("first run", False, f"{type(exc).__name__}: {str(exc)[:300]}")


def _rollback(
    settings: Settings, state: StackState, undo: list[tuple[str, Callable[[], object]]]
) -> None:
    for name, step in reversed(undo):
        # Rollback is best effort: the error that caused it is the one to report.
        with contextlib.suppress(Exception):
            step()
        setattr(state, name, type(getattr(state, name))())
    if undo:
        state.save(settings.home)


def down(settings: Settings) -> Report:
    """Stop exactly what `up` started; data stays on disk."""
    state = StackState.load(settings.home)
    report = Report()
    if state.ray.started_by_up:
        count = ray_head.stop_head(state.ray)
        _forget_current_cluster(settings, state.ray)
        report.add("ray", True, f"stopped head {state.ray.gcs_address} ({count} processes)")
    elif state.serve.deployed_by_up and state.ray.dashboard_url:
        serve_deploy.undeploy(state.ray.dashboard_url, [state.serve.app or app_name(settings)])
        report.add("serve", True, f"removed app {state.serve.app!r} from the external cluster")
    else:
        report.add("ray", True, "nothing started by `up`")
    if state.sim.started_by_up:
        sim_process.stop(state.sim)
        report.add("sim", True, "stopped")
    if state.postgres.started_by_up and state.postgres.embedded and state.postgres.pgdata:
        postgres.stop_embedded(Path(state.postgres.pgdata))
        report.add("postgres", True, f"stopped (data kept in {state.postgres.pgdata})")
    else:
        report.add("postgres", True, "nothing started by `up`")
    StackState().save(settings.home)
    return report


def _forget_current_cluster(settings: Settings, ray: RayState) -> None:
    # `ray status` and `ray.init()` find the latest cluster through this file; once the
    # head is gone, pointing them at it only produces connection errors.
    marker = (settings.ray_temp_dir or Path("/tmp/ray")) / "ray_current_cluster"
    try:
        # Ray writes the node's routable IP there, not the loopback we gave it: match the port.
        if marker.read_text().strip().endswith(f":{settings.ray_port}"):
            marker.unlink()
    except OSError:
        pass


def status(settings: Settings) -> Report:
    """Each component's state; `Report.ok` is False when any is down."""
    state = StackState.load(settings.home)
    report = Report()
    if settings.database_url is not None:
        problem = postgres.check_reachable(settings.database_url.get_secret_value())
        report.add("postgres", problem is None, problem or "external, reachable")
    else:
        pgdata = postgres.pgdata_dir(settings)
        running = postgres.embedded_running(pgdata)
        problem = (
            postgres.check_reachable(state.postgres.uri) if running and state.postgres.uri else None
        )
        ok = running and state.postgres.uri is not None and problem is None
        report.add("postgres", ok, f"embedded, data in {pgdata}" if ok else problem or "down")
    ray_ok = _ray_running(settings, state.ray)
    report.add("ray", ray_ok, f"dashboard {settings.dashboard_url}" if ray_ok else "down")
    app = (
        serve_deploy.applications(settings.dashboard_url).get(app_name(settings), {})
        if ray_ok
        else {}
    )
    app_status = app.get("status")
    serve_ok = app_status == "RUNNING" and _ready(settings.api_url)
    if serve_ok:
        detail = f"API {settings.api_url}"
    elif app_status == "RUNNING":
        detail = f"app RUNNING but {settings.api_url}/readyz is not 200"
    else:
        detail = f"app {app_status}" if app_status else "down"
    report.add("serve", serve_ok, detail)
    dsn = settings.database_url.get_secret_value() if settings.database_url else state.postgres.uri
    if dsn and ray_ok:
        alive, lines = scheduler.state(dsn)
        report.add("scheduler", alive, "heartbeat fresh" if alive else "no fresh heartbeat")
        for line in lines:
            report.add("schedule", alive, line)
    if sim_process.wanted(settings) or state.sim.started_by_up:
        sim_ok = sim_process.alive(state.sim)
        report.add("sim", sim_ok, f"admin {state.sim.admin_url}" if sim_ok else "down")
    return report


def _ready(api_url: str) -> bool:
    try:
        serve_deploy.wait_ready(api_url, timeout_s=3)
    except StackError:
        return False
    return True

"""The faults the chaos bench injects, each returning seconds until the part answers again.

Actors are killed the way a crash kills them (`ray.kill` with restarts allowed: Ray
restarts a `max_restarts=-1` actor under the same name); an API replica is killed for
good, as `tests/integration/test_serve_scaling.py` does, and Serve replaces it; a backfill
worker is the Ray worker process running `run_chunk`, SIGKILLed (Ray retries its task).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import psutil
import ray

from actors import NAMESPACE

POLL_S = 0.2


def _until(ready: Callable[[], bool], timeout_s: float) -> float | None:
    """Seconds until `ready()` is true, or None after `timeout_s`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if ready():
                return round(time.monotonic() - started, 2)
        except Exception:  # not answering yet is what we wait out
            pass
        time.sleep(POLL_S)
    return None


def _wait_for(find: Callable[[], Any], timeout_s: float) -> Any:
    """`find()`'s first truthy answer within `timeout_s` (None after)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if found := find():
                return found
        except ValueError:  # a named actor not created yet
            pass
        time.sleep(POLL_S)
    return None


def crash_actor(name: str, probe: str, timeout_s: float = 120) -> dict[str, Any]:
    """Kill actor `name` once the jobs have made it (Ray restarts it); seconds until its
    method `probe` answers again."""
    waited = time.monotonic()
    handle = _wait_for(lambda: ray.get_actor(name, namespace=NAMESPACE), timeout_s)
    if handle is None:
        return {"recovery_s": None, "note": f"actor {name} never appeared"}
    waited_s = round(time.monotonic() - waited, 1)
    ray.kill(handle, no_restart=False)
    time.sleep(POLL_S)
    answered = _until(
        lambda: ray.get(getattr(handle, probe).remote(), timeout=5) is not None, timeout_s
    )
    return {"recovery_s": answered, "actor": name, "waited_for_it_s": waited_s}


def _chunk_workers(home: str) -> list[psutil.Process]:
    """This stack's Ray workers running `run_chunk` (other stacks may share the machine)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if not " ".join(proc.info["cmdline"] or []).startswith("ray::run_chunk"):
            continue
        try:
            if proc.environ().get("STOCKRAY_HOME") == home:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _task_finished(task_id: str) -> bool:
    from ray.util.state import list_tasks

    attempts = list_tasks(filters=[("task_id", "=", task_id)], raise_on_missing_output=False)
    return any(a.state == "FINISHED" for a in attempts)


def kill_backfill_worker(
    home: str, done_chunks: Callable[[], int], timeout_s: float = 120
) -> dict[str, Any]:
    """SIGKILL a Ray worker running a backfill chunk (waiting for one to run); seconds until
    Ray's retry of that very task finished (else until any next chunk is done)."""
    from ray.util.state import list_tasks

    victims = _wait_for(lambda: _chunk_workers(home), timeout_s)
    if not victims:
        return {"recovery_s": None, "note": "no worker was running a backfill chunk"}
    victim = victims[0]
    running = list_tasks(
        filters=[("worker_pid", "=", str(victim.pid)), ("state", "=", "RUNNING")],
        raise_on_missing_output=False,
    )
    before = done_chunks()
    victim.send_signal(signal.SIGKILL)
    if running:
        task_id = running[0].task_id
        recovered = _until(lambda: _task_finished(task_id), timeout_s)
        return {
            "recovery_s": recovered,
            "pid": victim.pid,
            "task_id": task_id,
            "measured": "the killed task's retry finished",
        }
    recovered = _until(lambda: done_chunks() > before, timeout_s)
    return {"recovery_s": recovered, "pid": victim.pid, "measured": "a next chunk done"}


def _api_replicas(app: str) -> list[Any]:
    from ray.util.state import list_actors

    return list_actors(
        filters=[("class_name", "=", f"ServeReplica:{app}:Api"), ("state", "=", "ALIVE")]
    )


def _connections(replica: Any) -> int:
    try:
        return len(psutil.Process(replica.pid).net_connections(kind="tcp"))
    except psutil.Error:
        return 0


def kill_api_replica(app: str, ready: Callable[[], bool], timeout_s: float = 180) -> dict:
    """Kill one `Api` replica; seconds until as many are alive again and `ready()` holds."""
    replicas = _api_replicas(app)
    if not replicas:
        return {"recovery_s": None, "note": "no Api replica found"}
    victim = max(replicas, key=_connections)  # the one holding the most sockets
    connections = _connections(victim)
    ray.kill(ray.get_actor(victim.name, namespace="serve"), no_restart=True)
    time.sleep(1.0)  # the state API sees the death a moment later
    recovered = _until(lambda: len(_api_replicas(app)) >= len(replicas) and ready(), timeout_s)
    return {
        "recovery_s": None if recovered is None else round(recovered + 1.0, 2),
        "replicas": len(replicas),
        "victim_connections": connections,
    }


def restart_postgres(
    stop: Callable[[], None],
    start: Callable[[], None],
    ready: Callable[[], bool],
    timeout_s: float = 300,
) -> dict[str, Any]:
    """Stop Postgres, start it again; seconds from the stop until `ready()` holds."""
    started = time.monotonic()
    stop()
    down_s = round(time.monotonic() - started, 2)
    start()
    recovered = _until(ready, timeout_s)
    total = None if recovered is None else round(time.monotonic() - started, 2)
    return {"recovery_s": total, "stop_s": down_s}

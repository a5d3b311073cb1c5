"""Starting the scheduler actor from `up`, and reading its state for `status`."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

import asyncpg

from cluster.state import StackError
from core.scheduling import HEARTBEAT_ROW
from core.storage.db import run_connected
from core.storage.schedule_state import list_states

HEARTBEAT_STALE_S = 30.0


def ensure_started(address: str) -> None:
    """Create the detached scheduler actor if missing (connects to the cluster briefly)."""
    os.environ["RAY_AUTH_MODE"] = "token"  # read by Ray at import: set before it
    import ray

    from actors import NAMESPACE
    from actors.scheduler import scheduler_handle

    try:
        ray.init(
            address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.ERROR
        )
        ray.get(scheduler_handle().status.remote(), timeout=120)
    except Exception as exc:  # any failure here is reported as the scheduler's
        raise StackError(f"the scheduler did not start: {type(exc).__name__}: {exc}") from None
    finally:
        ray.shutdown()


def state(dsn: str) -> tuple[bool, list[str]]:
    """Whether the scheduler's heartbeat is fresh, and one line per schedule."""
    try:
        rows = run_connected(dsn, list_states)
    except (OSError, asyncpg.PostgresError):
        return False, []
    now = datetime.now(UTC)
    beat = next((r.heartbeat_at for r in rows if r.schedule == HEARTBEAT_ROW), None)
    alive = beat is not None and (now - beat).total_seconds() < HEARTBEAT_STALE_S
    lines = [
        f"{r.schedule}: next due {_when(r.next_due, now)}, last slot {r.last_slot:%Y-%m-%d %H:%M}Z"
        for r in rows
        if r.schedule != HEARTBEAT_ROW and r.last_slot is not None
    ]
    return alive, lines


def _when(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "unknown"
    minutes = (at - now).total_seconds() / 60
    return f"{at:%Y-%m-%d %H:%M:%S}Z (in {minutes:.0f} min)"

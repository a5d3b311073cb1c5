"""Fault points a test can arm, to kill a process where a real crash would hurt most.

`STOCKRAY_FAULTS` lists armed points, comma-separated, as `point=exit@/path/marker`: the
first process to reach `point` creates `marker` (atomically, so exactly one process fires
across a cluster on one machine) and dies at once with exit status 137, as if killed: no
`finally`, no `except`, no cleanup runs. Unset, a fault point costs one dict lookup.
Jobs pass the variable on to their tasks' workers (`jobs.common.connect_cluster`).
"""

from __future__ import annotations

import os

ENV = "STOCKRAY_FAULTS"


def _armed() -> dict[str, str]:
    out = {}
    for item in os.environ.get(ENV, "").split(","):
        point, _, action = item.strip().partition("=")
        if point and action:
            out[point] = action
    return out


def fault_point(point: str) -> None:
    """Die here if `point` is armed and no process has fired it yet."""
    action = _armed().get(point) if ENV in os.environ else None
    if action is None:
        return
    kind, _, marker = action.partition("@")
    if kind != "exit":
        raise ValueError(f"{ENV}: unknown action {kind!r} for {point!r} (only 'exit')")
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return  # fired once already
    os._exit(137)

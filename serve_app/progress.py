"""The latest `job.progress` event of each recent run, as this replica's listener saw it.

`GET /api/v1/status` prefers what a run stored on its `job_runs` row; a driver that only
publishes events still shows its progress through this board (every replica's listener
sees every event).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

KEEP_RUNS = 100


class ProgressBoard:
    """Run id → the payload of its newest `job.progress` event, for the last `KEEP_RUNS`."""

    def __init__(self, keep: int = KEEP_RUNS) -> None:
        self.keep = keep
        self._runs: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def on_event(self, event: dict[str, Any]) -> None:
        """Note a `job.progress` event (a `ctx.on_event` hook; ignores every other type)."""
        payload = event.get("payload")
        if event.get("type") != "job.progress" or not isinstance(payload, dict):
            return
        run_id = payload.get("run_id")
        if not isinstance(run_id, str):
            return
        self._runs[run_id] = payload
        self._runs.move_to_end(run_id)
        while len(self._runs) > self.keep:
            self._runs.popitem(last=False)

    def seed(self, events: list[dict[str, Any]]) -> None:
        """Note the progress events among those buffered before this replica started."""
        for event in events:
            self.on_event(event)

    def latest(self, run_id: str) -> dict[str, Any] | None:
        """The newest progress payload seen for `run_id`, if any."""
        return self._runs.get(run_id)

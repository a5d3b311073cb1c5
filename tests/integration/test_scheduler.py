"""The scheduler on the session's cluster: one run per slot, no overlap, restarts safe.

tests/integration/configs/schedules.yaml holds one schedule, `test-fast`, every 4 s.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest
import ray
from ray.job_submission import JobSubmissionClient

from actors import NAMESPACE
from actors.scheduler import SCHEDULER_NAME, scheduler_handle
from core.storage.db import connect
from core.wait import poll

pytestmark = pytest.mark.timeout(300)
NAME, EVERY = "test-fast", timedelta(seconds=4)


def _rows(dsn: str) -> list[tuple[datetime, str, str]]:
    async def go() -> list:
        conn = await connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT slot, status, submission_id FROM schedule_runs WHERE schedule = $1 "
                "ORDER BY slot",
                NAME,
            )
            return [(r["slot"], r["status"], r["submission_id"]) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(go())


def _wait_for(dsn: str, predicate, timeout_s: float = 90) -> list:
    rows = poll(lambda: _rows(dsn), until=predicate, timeout_s=timeout_s, interval_s=0.5)
    if predicate(rows):
        return rows
    raise AssertionError(f"schedule_runs never got there: {_rows(dsn)}")


def _kill(restart: bool) -> None:
    ray.kill(ray.get_actor(SCHEDULER_NAME, namespace=NAMESPACE), no_restart=not restart)


def test_slots_run_once_never_overlap_and_survive_restarts(ray_cluster) -> None:
    dsn = ray_cluster.dsn
    scheduler_handle()
    try:
        rows = _wait_for(dsn, lambda r: sum(s == "submitted" for _, s, _ in r) >= 2)

        _kill(restart=True)  # a crash: Ray restarts it; it resumes from Postgres
        count = len(rows)
        rows = _wait_for(dsn, lambda r: len(r) >= count + 2)

        _kill(restart=False)  # down for a while: at least two slots pass
        time.sleep(EVERY.total_seconds() * 2.5)
        count = len(_rows(dsn))
        scheduler_handle()
        rows = _wait_for(dsn, lambda r: len(r) >= count + 2)
    finally:
        _kill(restart=False)

    slots = [slot for slot, _, _ in rows]
    # Every slot from the first to the last is accounted for, once: none run twice, none lost.
    assert slots == [slots[0] + i * EVERY for i in range(len(slots))]
    statuses = {status for _, status, _ in rows}
    assert "skipped_missed" in statuses  # the downtime is recorded, not silently dropped
    assert statuses <= {"submitted", "skipped_missed", "skipped_overlap"}

    jobs = JobSubmissionClient(ray_cluster.dashboard_url)
    submitted = [sid for _, status, sid in rows if status == "submitted"]
    infos = [jobs.get_job_info(sid) for sid in submitted]
    assert [i.submission_id for i in infos] == submitted  # each slot's job exists, once
    for info in infos:
        assert info.metadata["schedule"] == NAME
    # No two runs of the schedule overlap.
    spans = sorted((i.start_time, i.end_time or float("inf")) for i in infos if i.start_time)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, spans
    assert all(datetime.now(UTC) - slot < timedelta(minutes=5) for slot in slots)

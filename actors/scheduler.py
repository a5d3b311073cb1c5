"""The scheduler: a detached actor that submits each due schedule slot as a Ray Job.

Slots are recorded in Postgres (`schedule_runs`, `schedule_state`) and submitted under a
deterministic submission id, so a restarted scheduler neither runs a slot twice (Ray
refuses a reused id; the row says it was handled) nor forgets where it was. A slot that
comes due while the schedule's previous run is still going is skipped and recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
import ray

from actors import NAMESPACE
from configs.sections import Schedule
from configs.settings import Settings, load_settings
from core.jobs import JOB_REQUESTS, AnalyzeRequest, CollectRequest
from core.logs import bind, configure_logging
from core.scheduling import HEARTBEAT_ROW, due, previous_slot, submission_id
from core.storage import schedule_runs, schedule_state
from core.storage.db import connect

log = logging.getLogger("stockray.scheduler")
SCHEDULER_NAME = "scheduler"
TICK_S = 1.0
ACTIVE = {"PENDING", "RUNNING"}


def entrypoint(settings: Settings, schedule: Schedule, trace_id: str) -> str:
    """The `python -m jobs.collect ...` (or another job's) command of one run of `schedule`."""
    if schedule.job not in ("collect", "analyze"):  # a maintenance job: no instruments
        return JOB_REQUESTS[schedule.job](trace_id=trace_id).to_entrypoint()
    tickers = list(schedule.tickers or settings.watchlist.groups[schedule.group])
    if schedule.job == "analyze":
        return AnalyzeRequest(
            tickers=tickers, window=schedule.window, trace_id=trace_id
        ).to_entrypoint()
    # An interval schedule's cycle must fit in its interval and gets its share of daily quotas.
    return CollectRequest(
        tickers=tickers,
        capabilities=schedule.capabilities,
        cycle_s=schedule.interval_s,
        trace_id=trace_id,
    ).to_entrypoint()


@ray.remote(num_cpus=0, max_restarts=-1)
class Scheduler:
    """Ticks every second; submits due slots; records every decision."""

    def __init__(self) -> None:
        self.settings = load_settings()  # a bad schedule file fails here, naming the entry
        configure_logging(self.settings)
        bind(stage="schedule")
        self.counts: dict[str, dict[str, int]] = {}
        self._client = None
        self._task = asyncio.get_event_loop().create_task(self._loop())

    def _jobs(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self.settings.dashboard_url)
        return self._client

    async def _loop(self) -> None:
        while True:
            try:
                conn = await connect(self.settings.database_url.get_secret_value())
                try:
                    while True:
                        await self.tick(conn)
                        await asyncio.sleep(TICK_S)
                finally:
                    await conn.close()
            except (OSError, asyncpg.PostgresError) as exc:  # database away: try again soon
                log.warning("scheduler tick failed: %s", exc)
                await asyncio.sleep(5)

    async def tick(self, conn: asyncpg.Connection, now: datetime | None = None) -> None:
        """Handle every enabled schedule once."""
        now = now or datetime.now(UTC)
        await schedule_state.beat(conn, HEARTBEAT_ROW)  # its own, for `stockray status`
        for schedule in self.settings.schedules.schedules:
            if schedule.enabled:
                await self._handle(conn, schedule, now)

    async def _handle(self, conn: asyncpg.Connection, schedule: Schedule, now: datetime) -> None:
        state = await schedule_state.get_state(conn, schedule.name)
        if state is None:  # first sight: start counting from the current slot
            await schedule_state.save_state(conn, schedule.name, previous_slot(schedule, now), None)
            return
        plan = due(schedule, state.last_slot, now)
        for slot in plan.missed:
            await self._record(conn, schedule, slot, "skipped_missed", "scheduler was not running")
        if plan.slot is not None:
            status, detail = await self._submit(conn, schedule, plan.slot)
            await self._record(conn, schedule, plan.slot, status, detail)
        last_slot = plan.slot or state.last_slot
        await schedule_state.save_state(conn, schedule.name, last_slot, plan.next_due)

    async def _submit(
        self, conn: asyncpg.Connection, schedule: Schedule, slot: datetime
    ) -> tuple[str, str | None]:
        previous = await schedule_runs.last_submitted(conn, schedule.name)
        jobs = self._jobs()
        if previous is not None:
            try:
                info = await asyncio.to_thread(jobs.get_job_info, previous)
                if str(info.status) in ACTIVE:
                    return "skipped_overlap", f"{previous} still {info.status}"
            except RuntimeError:
                pass  # that job is unknown to this cluster (e.g. a new head): not running
        sid = submission_id(schedule.name, slot)
        trace_id = hashlib.sha256(sid.encode()).hexdigest()[:16]
        try:
            await asyncio.to_thread(
                jobs.submit_job,
                entrypoint=entrypoint(self.settings, schedule, trace_id),
                submission_id=sid,
                metadata={
                    "schedule": schedule.name,
                    "slot": slot.isoformat(),
                    "trace_id": trace_id,
                },
            )
        except RuntimeError as exc:
            if "already exists" not in str(exc):
                log.warning(
                    "schedule %s: submit failed: %s", schedule.name, exc,
                    extra={"trace_id": trace_id, "status": "submit_failed"},
                )  # fmt: skip
                return "submit_failed", str(exc)[:300]
        log.info(
            "schedule %s: submitted %s for slot %s", schedule.name, sid, slot.isoformat(),
            extra={"trace_id": trace_id, "status": "submitted"},
        )  # fmt: skip
        return "submitted", sid

    async def _record(
        self,
        conn: asyncpg.Connection,
        schedule: Schedule,
        slot: datetime,
        status: str,
        detail: str | None,
    ) -> None:
        await schedule_runs.record_run(
            conn,
            schedule.name,
            slot,
            submission_id(schedule.name, slot),
            status,
            detail,
        )
        counts = self.counts.setdefault(schedule.name, {})
        counts[status] = counts.get(status, 0) + 1

    async def status(self) -> dict[str, Any]:
        """Decisions counted since this actor started, per schedule."""
        return {"counts": self.counts, "running": not self._task.done()}


def scheduler_handle() -> ray.actor.ActorHandle:
    """The scheduler, created if missing."""
    return Scheduler.options(
        name=SCHEDULER_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote()

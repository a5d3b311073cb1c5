"""When a schedule is due (Ray-free): slots, catch-up after downtime, jitter, submission ids.

A schedule's slots are fixed instants: multiples of `interval_s` since the Unix epoch, or
the instants of its cron expression (UTC). Each slot runs at most once, under the job id
`submission_id(name, slot)`, which Ray itself refuses to reuse. After downtime only the
newest missed slot runs; the older ones are recorded as skipped, never silently dropped.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from croniter import croniter

MAX_MISSED_RECORDED = 100  # a long outage records this many skipped slots, not every one
HEARTBEAT_ROW = "*"  # the schedule_state row of the scheduler itself


class ScheduleLike(Protocol):
    """What scheduling reads from `configs.sections.Schedule`."""

    name: str
    interval_s: float | None
    cron: str | None
    jitter_s: float


def previous_slot(schedule: ScheduleLike, at: datetime) -> datetime:
    """The latest slot at or before `at`."""
    if schedule.interval_s:
        step = schedule.interval_s
        return datetime.fromtimestamp(math.floor(at.timestamp() / step) * step, UTC)
    it = croniter(schedule.cron, at + timedelta(microseconds=1))
    return it.get_prev(datetime).astimezone(UTC)


def next_slot(schedule: ScheduleLike, after: datetime) -> datetime:
    """The first slot strictly after `after`."""
    if schedule.interval_s:
        step = schedule.interval_s
        return datetime.fromtimestamp((math.floor(after.timestamp() / step) + 1) * step, UTC)
    return croniter(schedule.cron, after).get_next(datetime).astimezone(UTC)


def jitter(schedule: ScheduleLike, slot: datetime) -> timedelta:
    """A stable delay in [0, jitter_s) per slot: spreads schedules, same on every restart."""
    if not schedule.jitter_s:
        return timedelta(0)
    digest = hashlib.sha256(f"{schedule.name}@{slot.isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(seconds=fraction * schedule.jitter_s)


@dataclass(frozen=True, slots=True)
class Due:
    """What to do now: run `slot` (or nothing), and the older slots that were missed."""

    slot: datetime | None
    missed: tuple[datetime, ...]
    next_due: datetime


def due(schedule: ScheduleLike, last_slot: datetime | None, now: datetime) -> Due:
    """The slot to run now, given the last slot handled; `last_slot=None` is a first start,
    which runs nothing until the next slot (a new schedule does not fire at once)."""
    latest = previous_slot(schedule, now)
    if last_slot is None or latest <= last_slot:
        base = latest if last_slot is None else last_slot
        upcoming = next_slot(schedule, max(base, latest))
        return Due(None, (), upcoming + jitter(schedule, upcoming))
    if now < latest + jitter(schedule, latest):
        return Due(None, (), latest + jitter(schedule, latest))
    missed = []
    at = next_slot(schedule, last_slot)
    while at < latest and len(missed) < MAX_MISSED_RECORDED:
        missed.append(at)
        at = next_slot(schedule, at)
    upcoming = next_slot(schedule, latest)
    return Due(latest, tuple(missed), upcoming + jitter(schedule, upcoming))


def submission_id(name: str, slot: datetime) -> str:
    """The Ray job submission id of one slot of one schedule."""
    return f"stockray-{name}-{slot.astimezone(UTC):%Y%m%dT%H%M%SZ}"

"""The API's requests per UTC day and route, added into Postgres (`api_daily`) for the
weekly report, which cannot count on Prometheus having scraped the week.

Each app (one per replica) counts in memory (`DailyCounts.record`, from the request
metrics middleware) and adds its counts to the stored rows every `FLUSH_INTERVAL_S` with
one additive upsert (`core.storage.api_daily.add`), so replicas and flushes add up. A
failed flush is logged and its counts are kept for the next one: it never fails a request.
Counts not yet flushed when a replica stops (at most one interval's) are lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from core.storage import api_daily
from core.storage.api_daily import ApiDay

FLUSH_INTERVAL_S = 30.0
log = logging.getLogger("stockray.serve.api_daily")


class DailyCounts:
    """One app's counts since its last flush, by (UTC day, route), and their flusher."""

    def __init__(self, pool: Callable[[], Awaitable[Any]], interval_s: float = FLUSH_INTERVAL_S):
        self._pool = pool
        self.interval_s = interval_s
        self._pending: dict[tuple[date, str], ApiDay] = {}
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failing = False

    def record(self, route: str, status: int, seconds: float, at: datetime | None = None) -> None:
        """Count one request (and make sure a flusher runs on this event loop)."""
        day = (at or datetime.now(UTC)).date()
        row = self._pending.get((day, route))
        if row is None:
            row = self._pending[day, route] = ApiDay(day, route)
        row.observe(status, seconds)
        self._ensure_flusher()

    def _ensure_flusher(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): flushed by whoever calls flush()
            return
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._task = loop.create_task(self._flush_every_interval())

    async def _flush_every_interval(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.flush()

    async def flush(self) -> bool:
        """Add the counts so far to Postgres; on failure keep them for the next flush.
        True when nothing is left pending."""
        pending, self._pending = self._pending, {}
        if not pending:
            return True
        try:
            await api_daily.add(await self._pool(), list(pending.values()))
        except Exception as exc:  # Postgres away or slow: retried at the next interval
            for key, row in pending.items():
                kept = self._pending.setdefault(key, ApiDay(row.day, row.route))
                kept.merge(row)
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(level, "api_daily flush failed (kept for the next): %s", type(exc).__name__)
            self._failing = True
            return False
        self._failing = False
        return True


def record(scope: dict[str, Any], route: str, status: int, seconds: float) -> None:
    """Count a request on its app's `DailyCounts`, made on the first request of an app
    whose host set `app.state.context` (a Serve replica, or a test hosting the app)."""
    app = scope.get("app")
    state = getattr(app, "state", None)
    if state is None:
        return
    counts = getattr(state, "api_daily", None)
    if counts is None:
        ctx = getattr(state, "context", None)
        if ctx is None:
            return
        counts = state.api_daily = DailyCounts(lambda: _open_pool(ctx))
    counts.record(route, status, seconds)


async def _open_pool(ctx: Any) -> Any:
    # The replica's pool as the requests made it: a flush never opens one (nor reopens the
    # pool of a closed context); until a request has, the counts wait.
    pool = getattr(ctx, "_pool", None)
    if pool is None:
        raise RuntimeError("no Postgres pool open yet")
    return pool

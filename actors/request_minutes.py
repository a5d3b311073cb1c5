"""Provider requests per minute, added into Postgres (`provider_minutes`) by the provider
actors, for the Operations page's request-rate chart.

A provider actor is the only caller of its provider in the cluster, so its counts are the
provider's. The Prometheus counters reset with the actor and live on its node; Postgres
keeps the history across restarts and answers every API replica the same. Counts wait in
memory (`MinuteTally`) and are added every `FLUSH_INTERVAL_S` with one additive upsert; a
failed flush keeps them for the next. Counts not flushed when an actor dies (at most one
interval's) are lost.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from core.provider_service import Hooks
from core.storage import provider_minutes
from core.storage.db import create_pool
from core.storage.provider_minutes import MinuteTally

FLUSH_INTERVAL_S = 10.0
PRUNE_EVERY = timedelta(hours=1)
log = logging.getLogger("stockray.providers.minutes")


class MinuteHooks:
    """`Hooks` that pass every call on to `inner` and count the sent ones per minute."""

    def __init__(self, inner: Hooks, dsn: str | None, interval_s: float = FLUSH_INTERVAL_S):
        self.inner = inner
        self.tally = MinuteTally()
        self.interval_s = interval_s
        self._dsn = dsn
        self._pool: Any = None
        self._task: asyncio.Task | None = None
        self._pruned_at: datetime | None = None
        self._failing = False

    def request(self, provider: str, outcome: str, seconds: float) -> None:
        """Record the call in `inner`; count it if it reached the provider."""
        self.inner.request(provider, outcome, seconds)
        if self._dsn and self.tally.count(provider, outcome, datetime.now(UTC)):
            self._ensure_flusher()

    def ratelimit_wait(self, provider: str, seconds: float) -> None:
        """Pass on."""
        self.inner.ratelimit_wait(provider, seconds)

    def circuit(self, provider: str, is_open: bool) -> None:
        """Pass on."""
        self.inner.circuit(provider, is_open)

    def _ensure_flusher(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        while True:  # until stored: a failed flush is tried again, calls or none
            await asyncio.sleep(self.interval_s)
            if await self.flush():
                return

    async def flush(self) -> bool:
        """Add the counts so far to Postgres (keeping them on failure); True when stored."""
        rows = self.tally.drain()
        if not rows:
            return True
        try:
            if self._pool is None:
                self._pool = await create_pool(self._dsn, min_size=1, max_size=1)
            await provider_minutes.add(self._pool, rows)
            now = datetime.now(UTC)
            if self._pruned_at is None or now - self._pruned_at > PRUNE_EVERY:
                self._pruned_at = now
                await provider_minutes.prune(self._pool, now)
        except Exception as exc:  # Postgres away or slow: retried with the next counts
            self.tally.restore(rows, datetime.now(UTC))
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(level, "provider_minutes flush failed (kept): %s", type(exc).__name__)
            self._failing = True
            return False
        self._failing = False
        return True

    async def aclose(self) -> None:
        """Flush what is left and close the pool."""
        if self._task is not None:
            self._task.cancel()
        if self._dsn:
            await self.flush()
        if self._pool is not None:
            await self._pool.close()

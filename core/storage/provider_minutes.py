"""`provider_minutes`: HTTP requests sent to each provider per UTC minute, for the
Operations page's request-rate chart.

Nothing else keeps this history across processes and restarts: the actors' counts and the
Prometheus counters live in one process (and reset with it), and the Redis limiter's log only
keeps its longest window. So each provider actor counts in memory (`MinuteTally`) and adds
its counts with one additive upsert (`add`); readers get the minutes of a time range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.storage.db import Db

KEEP = timedelta(days=2)
"""How long rows are kept: the chart shows at most a day."""

NOT_SENT = frozenset({"circuit_open", "throttled"})
"""Outcomes of calls that never reached the provider (so its limit did not count them)."""
REFUSED = frozenset({"rate_limited", "quota_exhausted"})
"""Outcomes of calls the provider refused for its rate limit or quota."""


@dataclass(slots=True)
class ProviderMinute:
    """Requests sent to one provider in one UTC minute: all, refused (429/quota), failed."""

    provider: str
    minute: datetime
    requests: int = 0
    refused: int = 0
    failed: int = 0


def minute_of(at: datetime) -> datetime:
    """The start of `at`'s minute."""
    return at.replace(second=0, microsecond=0)


class MinuteTally:
    """Counts since the last `drain`, by (provider, minute)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, datetime], ProviderMinute] = {}

    def count(self, provider: str, outcome: str, at: datetime) -> bool:
        """Count one call that ended with `outcome` (`core.provider_service.outcome_of`);
        False for a call that was never sent (nothing counted)."""
        if outcome in NOT_SENT:
            return False
        key = (provider, minute_of(at))
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = ProviderMinute(provider, key[1])
        row.requests += 1
        row.refused += outcome in REFUSED
        row.failed += outcome != "ok" and outcome not in REFUSED
        return True

    def drain(self) -> list[ProviderMinute]:
        """The counts so far, leaving the tally empty."""
        rows, self._rows = list(self._rows.values()), {}
        return rows

    def restore(self, rows: list[ProviderMinute], now: datetime) -> None:
        """Put back counts a failed `add` did not store (added to any counted since), but
        those older than `KEEP`: while Postgres stays away, memory holds two days at most."""
        for r in rows:
            if r.minute < now - KEEP:
                continue
            kept = self._rows.setdefault(
                (r.provider, r.minute), ProviderMinute(r.provider, r.minute)
            )
            kept.requests += r.requests
            kept.refused += r.refused
            kept.failed += r.failed

    def __bool__(self) -> bool:
        return bool(self._rows)


_ADD = """
    INSERT INTO provider_minutes AS p (provider, minute, requests, refused, failed)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (provider, minute) DO UPDATE SET
        requests = p.requests + EXCLUDED.requests,
        refused = p.refused + EXCLUDED.refused,
        failed = p.failed + EXCLUDED.failed"""
_RANGE = """
    SELECT provider, minute, requests, refused, failed FROM provider_minutes
    WHERE minute >= $1 AND minute < $2 ORDER BY provider, minute"""
_PRUNE = "DELETE FROM provider_minutes WHERE minute < $1"


async def add(db: Db, rows: list[ProviderMinute]) -> None:
    """Add these counts to the stored ones, all or none."""
    if not rows:
        return
    args = [(r.provider, r.minute, r.requests, r.refused, r.failed) for r in rows]
    await db.executemany(_ADD, args)  # asyncpg runs it as one transaction


async def between(db: Db, start: datetime, end: datetime) -> list[ProviderMinute]:
    """The stored minutes in [start, end), by provider then minute."""
    return [ProviderMinute(**dict(r)) for r in await db.fetch(_RANGE, start, end)]


async def prune(db: Db, now: datetime) -> int:
    """Delete the minutes older than `KEEP`; return how many."""
    status = await db.execute(_PRUNE, now - KEEP)
    return int(status.split()[-1])

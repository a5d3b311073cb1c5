"""`api_daily`: the API's requests per UTC day and route, with a latency histogram.

Writers add (`add`): each replica's counts since its last flush are summed into the day's
row, so any number of replicas and flushes add up. Readers get one `ApiDay` per day and
route; `p95_s` of merged rows comes from their summed buckets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from core.storage.db import Db

# Upper bounds (seconds) of the latency buckets; the last bucket is +Inf. The same bounds
# as the API's `stockray_http_request_seconds` histogram.
BOUNDS_S: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10)
N_BUCKETS = len(BOUNDS_S) + 1


@dataclass(slots=True)
class ApiDay:
    """Requests to one route on one UTC day: answers by class, latency sum and histogram."""

    day: date
    route: str
    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    seconds_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * N_BUCKETS)

    def observe(self, status: int, seconds: float) -> None:
        """Count one request answered with `status` after `seconds`."""
        self.requests += 1
        self.errors_4xx += 400 <= status < 500
        self.errors_5xx += status >= 500
        self.seconds_sum += seconds
        self.buckets[bucket_of(seconds)] += 1

    def merge(self, other: ApiDay) -> None:
        """Add `other`'s counts (same day; any route) to this one."""
        self.requests += other.requests
        self.errors_4xx += other.errors_4xx
        self.errors_5xx += other.errors_5xx
        self.seconds_sum += other.seconds_sum
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]


def bucket_of(seconds: float) -> int:
    """The index of the bucket `seconds` falls in (the last one: over every bound)."""
    for i, bound in enumerate(BOUNDS_S):
        if seconds <= bound:
            return i
    return len(BOUNDS_S)


def quantile(buckets: list[int], q: float) -> float | None:
    """The q-quantile (0..1) of a histogram, interpolated linearly inside its bucket as
    Prometheus' `histogram_quantile` does; None when empty. Past the last bound: the bound."""
    total = sum(buckets)
    if total == 0:
        return None
    rank, seen, lower = q * total, 0, 0.0
    for i, n in enumerate(buckets):
        if i == len(BOUNDS_S):
            return BOUNDS_S[-1]
        if n and seen + n >= rank:
            return lower + (BOUNDS_S[i] - lower) * (rank - seen) / n
        seen, lower = seen + n, BOUNDS_S[i]
    return BOUNDS_S[-1]


_ADD = """
    INSERT INTO api_daily AS a
        (day, route, requests, errors_4xx, errors_5xx, seconds_sum, buckets)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (day, route) DO UPDATE SET
        requests = a.requests + EXCLUDED.requests,
        errors_4xx = a.errors_4xx + EXCLUDED.errors_4xx,
        errors_5xx = a.errors_5xx + EXCLUDED.errors_5xx,
        seconds_sum = a.seconds_sum + EXCLUDED.seconds_sum,
        buckets = (SELECT array_agg(x + y ORDER BY i)
                   FROM unnest(a.buckets, EXCLUDED.buckets) WITH ORDINALITY AS t(x, y, i)),
        updated_at = now()"""
_RANGE = """
    SELECT day, route, requests, errors_4xx, errors_5xx, seconds_sum, buckets
    FROM api_daily WHERE day BETWEEN $1 AND $2 ORDER BY day, route"""


async def add(db: Db, rows: list[ApiDay]) -> None:
    """Add these counts to the stored ones, all or none."""
    if not rows:
        return
    args = [
        (r.day, r.route, r.requests, r.errors_4xx, r.errors_5xx, r.seconds_sum, r.buckets)
        for r in rows
    ]
    await db.executemany(_ADD, args)  # asyncpg runs it as one transaction


async def days(db: Db, first: date, last: date) -> list[ApiDay]:
    """The stored rows of the days in [first, last], by day then route."""
    rows = await db.fetch(_RANGE, first, last)
    return [ApiDay(**{**dict(r), "buckets": list(r["buckets"])}) for r in rows]

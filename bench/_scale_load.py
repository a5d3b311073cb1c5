"""bench.scale's read load: the API's watchlist and bars routes at a fixed concurrency, and
the peer reading the same rows straight from Postgres with asyncpg at the same concurrency."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bench._scale_measure import p99_ms
from core.storage import watchlist as reads
from core.storage.db import create_pool

CONCURRENCY = 16
# The bars route's own query (core/storage/bars.py `_BARS`); the watchlist's is
# core.storage.watchlist's one set-based query, which the peer calls as the route does.
BARS_SQL = """
    SELECT instrument_id, interval, ts, open, high, low, close, volume, provider, partial
    FROM bars WHERE instrument_id = $1 AND interval = $2 AND ts >= $3 AND ts < $4
    ORDER BY ts"""
WATCHLIST_PATH = "/api/v1/watchlist"  # every instrument in one page (limit 1000)
WATCHLIST_ROWS = 1000
BARS_PATH = "/api/v1/instruments/{id}/bars"


@dataclass
class Run:
    """Latencies (s) of answered requests, failures by kind, hits of the API's cache."""

    latencies: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    cache_hits: int = 0
    seconds: float = 0.0

    def figures(self, prefix: str) -> dict[str, Any]:
        """`<prefix>_p99_ms`, `_rps`, `_requests`, `_failed` (and `_cache_hit_share`)."""
        n = len(self.latencies)
        out: dict[str, Any] = {
            f"{prefix}_p99_ms": p99_ms(self.latencies),
            f"{prefix}_rps": round(n / self.seconds, 1) if self.seconds else None,
            f"{prefix}_requests": n,
            f"{prefix}_failed": sum(self.failures.values()),
        }
        if self.failures:
            out[f"{prefix}_failures"] = dict(self.failures)
        if self.cache_hits:
            out[f"{prefix}_cache_hit_share"] = round(self.cache_hits / max(n, 1), 3)
        return out


async def drive(
    call: Callable[[int], Awaitable[bool | None]], seconds: float, concurrency: int = CONCURRENCY
) -> Run:
    """`concurrency` workers calling `call(i)` (i counting up per worker from its offset)
    for `seconds`. `call` returns True for a cache hit; it raises on a failure."""
    run = Run()

    async def worker(offset: int, deadline: float) -> None:
        i = offset
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                hit = await call(i)
            except Exception as exc:  # counted by kind; the load goes on
                run.failures[str(getattr(exc, "status", "")) or type(exc).__name__] += 1
            else:
                run.latencies.append(time.perf_counter() - start)
                run.cache_hits += bool(hit)
            i += concurrency

    start = time.perf_counter()
    await asyncio.gather(*(worker(n, start + seconds) for n in range(concurrency)))
    run.seconds = time.perf_counter() - start
    return run


class ApiStatus(Exception):
    """A non-200 answer."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


async def api_load(
    base_url: str, key: str, ids: list[str], seconds: float, warmup_s: float = 3.0
) -> dict[str, Any]:
    """p99 of the watchlist route, then of the bars route cycling through `ids`: as a client
    repeats them (the API's cache answers repeats), then each request new to the cache (the
    same rows: `limit` ≥ the instruments and `sentiment_days` vary for the watchlist, the
    window's start moves by a second for bars), which is what the Postgres peer compares to."""
    span = max(1, WATCHLIST_ROWS + 1 - len(ids))
    since = (datetime.now(UTC) - timedelta(days=365)).replace(microsecond=0)
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout
    ) as session:

        async def get(path: str) -> bool:
            async with session.get(base_url + path) as resp:
                await resp.read()
                if resp.status != 200:
                    raise ApiStatus(resp.status)
                return resp.headers.get("X-Cache") == "hit"

        async def watchlist(_: int) -> bool:
            return await get(WATCHLIST_PATH)

        async def bars(i: int) -> bool:
            return await get(BARS_PATH.format(id=ids[i % len(ids)]))

        async def watchlist_new(i: int) -> bool:
            days = 1 + (i // span) % 365
            return await get(f"{WATCHLIST_PATH}?limit={len(ids) + i % span}&sentiment_days={days}")

        async def bars_new(i: int) -> bool:
            start = (since + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            return await get(BARS_PATH.format(id=ids[i % len(ids)]) + f"?start={start}")

        out: dict[str, Any] = {}
        for name, call in (("watchlist", watchlist), ("bars", bars)):
            await drive(call, warmup_s)
            out.update((await drive(call, seconds)).figures(name))
        for name, call in (("watchlist_uncached", watchlist_new), ("bars_uncached", bars_new)):
            out.update((await drive(call, seconds)).figures(name))
    return out


async def db_load(dsn: str, ids: list[str], seconds: float, warmup_s: float = 3.0) -> dict:
    """The peer: the same reads straight from Postgres on a pool of `CONCURRENCY`."""
    pool = await create_pool(dsn, min_size=CONCURRENCY, max_size=CONCURRENCY)
    try:

        async def watchlist(_: int) -> None:
            await reads.watchlist(pool, WATCHLIST_ROWS)

        async def bars(i: int) -> None:
            end = datetime.now(UTC)  # the route's default window: the last 365 days
            await pool.fetch(BARS_SQL, ids[i % len(ids)], "1d", end - timedelta(days=365), end)

        await drive(watchlist, warmup_s)
        out = (await drive(watchlist, seconds)).figures("db_watchlist")
        await drive(bars, warmup_s)
        out.update((await drive(bars, seconds)).figures("db_bars"))
    finally:
        await pool.close()
    return out


async def first_bar(base_url: str, key: str, instrument: str) -> bool:
    """Whether the API shows at least one bar of `instrument` (its default window)."""
    headers = {"Authorization": f"Bearer {key}"}
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(headers=headers, timeout=timeout) as session,
        session.get(base_url + BARS_PATH.format(id=instrument)) as resp,
    ):
        if resp.status != 200:
            return False
        return bool((await resp.json()).get("bars"))

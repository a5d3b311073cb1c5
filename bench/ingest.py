"""Ingest benchmark: the project's bar writer against plain asyncpg `executemany`.

`python -m bench.ingest` starts an embedded Postgres in a temp dir, writes the same
synthetic daily bars in the same batches (one transaction each) with both writers, each
into an empty database of the same schema; then backfills 50 instruments x 10 years of
daily bars through the simulator under a provider rate limit (`bench/_backfill.py`), and
prints one JSON object with all figures as its last line.
"""

from __future__ import annotations

import asyncio
import json
import operator
import random
import statistics
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg

from bench._backfill import measure_backfill
from bench._stack import EmbeddedPostgres, embedded_postgres
from core.models import Bar, Instrument
from core.storage.db import connect
from core.storage.writers import WriteResult, write_bars

INSTRUMENTS = 100
DAYS = 10_000
BATCH_ROWS = 10_000
T = TypeVar("T")
COLUMNS = ("instrument_id", "interval", "ts", "open", "high", "low", "close", "volume",
           "partial", "provider")  # fmt: skip
# The straightforward peer: the same upsert, one parameterised statement per row.
PEER_SQL = """
    INSERT INTO bars AS t (instrument_id, interval, ts, open, high, low, close, volume,
                           partial, provider)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (instrument_id, interval, ts) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
        close = EXCLUDED.close, volume = EXCLUDED.volume, partial = EXCLUDED.partial,
        provider = EXCLUDED.provider, fetched_at = now()
    WHERE (t.open, t.high, t.low, t.close, t.volume, t.partial)
          IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close,
                            EXCLUDED.volume, EXCLUDED.partial)"""
# Order-free fingerprints of the table: with and without fetched_at (which any rewrite moves).
CHECKSUM_SQL = "SELECT count(*), sum(hashtextextended(b::text, 0)) FROM bars b"
CONTENT_SQL = f"SELECT count(*), sum(hashtextextended(({', '.join(COLUMNS)})::text, 0)) FROM bars"


def log(message: str) -> None:
    """A human progress line (the JSON line comes last on stdout)."""
    print(f"[ingest] {message}", flush=True)


def synthetic_instruments(n: int) -> list[Instrument]:
    """`n` made-up instruments."""
    return [Instrument(f"SYN{i:03d}", f"Synthetic {i}", "SIM", "USD", "UTC") for i in range(n)]


def synthetic_bars(instruments: list[Instrument], days: int, seed: int = 7) -> list[Bar]:
    """A seeded random walk of `days` daily bars per instrument, in instrument order."""
    rng = random.Random(seed)
    t0 = datetime(1990, 1, 1, 21, tzinfo=UTC)
    stamps = [t0 + timedelta(days=d) for d in range(days)]
    bars = []
    for inst in instruments:
        price = rng.uniform(10, 500)
        for i, ts in enumerate(stamps):
            close = max(0.01, price * (1 + rng.gauss(0, 0.02)))
            high, low = max(price, close) * 1.01, min(price, close) * 0.99
            volume = None if i % 50 == 0 else rng.randrange(10_000, 5_000_000)
            bars.append(Bar(inst.id, "1d", ts, price, high, low, close, volume, "sim"))
            price = close
    return bars


async def _project_batch(conn: asyncpg.Connection, batch: list[Bar]) -> WriteResult:
    async with conn.transaction():
        return await write_bars(conn, batch)


async def _peer_batch(conn: asyncpg.Connection, batch: list[Bar]) -> None:
    records = list(map(operator.attrgetter(*COLUMNS), batch))
    async with conn.transaction():
        await conn.executemany(PEER_SQL, records)


async def _timed(work: Awaitable[T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = await work
    return time.perf_counter() - start, result


async def _first_pass(
    project: asyncpg.Connection, peer: asyncpg.Connection, batches: list[list[Bar]]
) -> tuple[list[float], list[float], int]:
    """Both writers, batch by batch, alternating who goes first: a busy neighbour on the
    machine slows both alike. Returns per-batch seconds of each and rows inserted."""
    project_s, peer_s, inserted = [], [], 0
    for i, batch in enumerate(batches):
        if i % 2:
            peer_s.append((await _timed(_peer_batch(peer, batch)))[0])
        seconds, result = await _timed(_project_batch(project, batch))
        project_s.append(seconds)
        inserted += result.inserted
        if not i % 2:
            peer_s.append((await _timed(_peer_batch(peer, batch)))[0])
    return project_s, peer_s, inserted


async def _rerun(conn: asyncpg.Connection, batches: list[list[Bar]]) -> tuple[float, int, bool]:
    """Write everything again with the project writer: (seconds, rows changed, table equal)."""
    before = tuple(await conn.fetchrow(CHECKSUM_SQL))
    start, changed = time.perf_counter(), 0
    for batch in batches:
        result = await _project_batch(conn, batch)
        changed += result.inserted + result.updated
    seconds = time.perf_counter() - start
    return seconds, changed, tuple(await conn.fetchrow(CHECKSUM_SQL)) == before


async def _measure_writer(
    pg: EmbeddedPostgres, instruments: int, days: int, batch_rows: int
) -> dict:
    insts = synthetic_instruments(instruments)
    bars = synthetic_bars(insts, days)
    n, batches = len(bars), [bars[i : i + batch_rows] for i in range(0, len(bars), batch_rows)]
    log(f"{n:,} bars in {len(batches)} batches of {batch_rows:,}, one transaction each")
    project = await connect(await pg.fresh_database("bench_project", insts))
    peer = await connect(await pg.fresh_database("bench_peer", insts))
    try:
        project_s, peer_s, inserted = await _first_pass(project, peer, batches)
        log(f"project write_bars: {sum(project_s):.1f}s, {n / sum(project_s):,.0f} rows/s")
        log(f"peer executemany:   {sum(peer_s):.1f}s, {n / sum(peer_s):,.0f} rows/s")
        same = tuple(await project.fetchrow(CONTENT_SQL)) == tuple(await peer.fetchrow(CONTENT_SQL))
        await peer.close()
        await pg.drop_database("bench_peer")
        rerun_s, changed, unchanged = await _rerun(project, batches)
        log(f"project rerun: {rerun_s:.1f}s, {changed} rows changed, table unchanged: {unchanged}")
    finally:
        await project.close()
        await peer.close()
    await pg.drop_database("bench_project")
    if inserted != n or not same:
        raise RuntimeError(f"writers disagree: inserted {inserted} of {n}, same content {same}")
    project_rate, peer_rate = n / sum(project_s), n / sum(peer_s)
    return {
        "rows": n,
        "batch_rows": batch_rows,
        "project_rows_per_s": round(project_rate),
        "peer_rows_per_s": round(peer_rate),
        "ratio": round(project_rate / peer_rate, 2),
        "ratio_median_batch": round(statistics.median(peer_s) / statistics.median(project_s), 2),
        "rerun_changed_rows": changed,
        "rerun_table_unchanged": unchanged,
        "rerun_rows_per_s": round(n / rerun_s),
    }


def measure_writer(
    pg: EmbeddedPostgres,
    instruments: int = INSTRUMENTS,
    days: int = DAYS,
    batch_rows: int = BATCH_ROWS,
) -> dict:
    """Bars/s of `write_bars` vs `executemany`, and what a full rerun changes (goal 0)."""
    return asyncio.run(_measure_writer(pg, instruments, days, batch_rows))


def main() -> None:
    """Run every ingest measurement; print their merged figures as the last line."""
    figures: dict = {}
    with embedded_postgres() as pg:
        figures.update(measure_writer(pg))
        print(json.dumps(figures), flush=True)
        print("backfill: 50 instruments x 10 years through the rate-limited sim ...", flush=True)
        figures.update(measure_backfill(pg))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""Ingest benchmark: the project's bar writer against plain asyncpg `executemany` and
against the physical ceiling, a plain `COPY`.

`python -m bench.ingest` starts an embedded Postgres in a temp dir, writes the same
synthetic daily bars in the same batches (one transaction each), each writer into an empty
database of the same (partitioned) schema, batch by batch in turns: the project's
`write_bars`, the peer (`executemany` of the upsert), a plain `COPY` into `bars` (the
ceiling: no merge), `write_bars` made to merge every batch (no direct COPY), and
`write_bars` of the same bars squeezed into one year (one partition instead of ~28). Then
backfills 50 instruments x 10 years of daily bars through the simulator under a provider
rate limit (`bench/_backfill.py`), and prints one JSON object with all figures as its last
line.
"""

from __future__ import annotations

import asyncio
import json
import operator
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

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
# Leaf partitions holding rows (the project's table: ~28 yearly ones).
SPREAD_SQL = "SELECT count(DISTINCT tableoid) FROM bars"
# The squeezed series: the same bars 50 minutes apart, all in 2020 (one yearly partition).
ONE_YEAR_T0, ONE_YEAR_STEP = datetime(2020, 1, 1, tzinfo=UTC), timedelta(minutes=50)


def log(message: str) -> None:
    """A human progress line (the JSON line comes last on stdout)."""
    print(f"[ingest] {message}", flush=True)


def synthetic_instruments(n: int) -> list[Instrument]:
    """`n` made-up instruments."""
    return [Instrument(f"SYN{i:03d}", f"Synthetic {i}", "SIM", "USD", "UTC") for i in range(n)]


def synthetic_bars(
    instruments: list[Instrument],
    days: int,
    seed: int = 7,
    t0: datetime = datetime(1990, 1, 1, 21, tzinfo=UTC),
    step: timedelta = timedelta(days=1),
) -> list[Bar]:
    """A seeded random walk of `days` daily bars per instrument, in instrument order, one
    `step` apart from `t0` (a shorter step squeezes them into fewer partitions)."""
    rng = random.Random(seed)
    stamps = [t0 + step * d for d in range(days)]
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


async def _merge_batch(conn: asyncpg.Connection, batch: list[Bar]) -> WriteResult:
    async with conn.transaction():
        return await write_bars(conn, batch, direct_copy=False)


async def _copy_batch(conn: asyncpg.Connection, batch: list[Bar]) -> None:
    """The ceiling: the batch's rows COPYed into `bars` as they are (no staging, no merge;
    the partitions are made beforehand, outside the timing)."""
    records = list(map(operator.attrgetter(*COLUMNS), batch))
    async with conn.transaction():
        await conn.copy_records_to_table("bars", records=records, columns=COLUMNS)


async def _peer_batch(conn: asyncpg.Connection, batch: list[Bar]) -> None:
    records = list(map(operator.attrgetter(*COLUMNS), batch))
    async with conn.transaction():
        await conn.executemany(PEER_SQL, records)


async def _timed(work: Awaitable[T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = await work
    return time.perf_counter() - start, result


async def _first_pass(
    writers: dict[str, tuple[Callable[[list[Bar]], Awaitable[Any]], list[list[Bar]]]],
) -> tuple[dict[str, list[float]], int]:
    """Every writer, batch by batch, taking turns at going first: a busy neighbour on the
    machine slows all alike. Returns per-batch seconds of each, and the rows the project's
    writer inserted."""
    seconds: dict[str, list[float]] = {name: [] for name in writers}
    names, inserted = list(writers), 0
    for i in range(len(next(iter(writers.values()))[1])):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            write, batches = writers[name]
            took, result = await _timed(write(batches[i]))
            seconds[name].append(took)
            if name == "project":
                inserted += result.inserted
    return seconds, inserted


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
    squeezed = synthetic_bars(insts, days, t0=ONE_YEAR_T0, step=ONE_YEAR_STEP)
    n = len(bars)
    batches = [bars[i : i + batch_rows] for i in range(0, n, batch_rows)]
    one_part = [squeezed[i : i + batch_rows] for i in range(0, n, batch_rows)]
    log(f"{n:,} bars in {len(batches)} batches of {batch_rows:,}, one transaction each")
    names = ("project", "peer", "copy", "merge", "one_partition")
    conns = {name: await connect(await pg.fresh_database(f"bench_{name}", insts)) for name in names}
    try:
        # The ceiling's partitions exist before it starts (the others make their own).
        await conns["copy"].fetchval(
            "SELECT bars_ensure_partitions('{1d}', $1::timestamptz[], $2::timestamptz[])",
            [bars[0].ts],
            [bars[-1].ts],
        )
        fns = {"project": _project_batch, "peer": _peer_batch, "copy": _copy_batch,
               "merge": _merge_batch, "one_partition": _project_batch}  # fmt: skip
        seconds, inserted = await _first_pass(
            {name: (partial(fns[name], conns[name]), one_part if name == "one_partition"
                    else batches) for name in names}
        )  # fmt: skip
        rate = {name: n / sum(seconds[name]) for name in names}
        for name in names:
            log(f"{name:>13}: {sum(seconds[name]):.1f}s, {rate[name]:,.0f} rows/s")
        same = {
            name: tuple(await conns[name].fetchrow(CONTENT_SQL))
            for name in ("project", "peer", "copy", "merge")
        }
        spread = await conns["project"].fetchval(SPREAD_SQL)
        for name in ("peer", "copy"):
            await conns[name].close()
            await pg.drop_database(f"bench_{name}")
        rerun_s, changed, unchanged = await _rerun(conns["project"], batches)
        log(f"project rerun: {rerun_s:.1f}s, {changed} rows changed, table unchanged: {unchanged}")
        rerun_one_s, changed_one, _ = await _rerun(conns["one_partition"], one_part)
        log(f"one-partition rerun: {rerun_one_s:.1f}s, {changed_one} rows changed")
    finally:
        for conn in conns.values():
            await conn.close()
    for name in ("project", "merge", "one_partition"):
        await pg.drop_database(f"bench_{name}")
    if inserted != n or len(set(same.values())) != 1:
        raise RuntimeError(f"writers disagree: inserted {inserted} of {n}, contents {same}")
    return {
        "rows": n,
        "batch_rows": batch_rows,
        "project_rows_per_s": round(rate["project"]),
        "peer_rows_per_s": round(rate["peer"]),
        "ratio": round(rate["project"] / rate["peer"], 2),
        "ratio_median_batch": round(
            statistics.median(seconds["peer"]) / statistics.median(seconds["project"]), 2
        ),
        "copy_ceiling_rows_per_s": round(rate["copy"]),
        "ratio_to_ceiling": round(rate["project"] / rate["copy"], 2),
        "merge_rows_per_s": round(rate["merge"]),
        "merge_ratio_to_ceiling": round(rate["merge"] / rate["copy"], 2),
        "partitions": spread,
        "one_partition_rows_per_s": round(rate["one_partition"]),
        "rerun_changed_rows": changed + changed_one,
        "rerun_table_unchanged": unchanged,
        "rerun_rows_per_s": round(n / rerun_s),
        "rerun_one_partition_rows_per_s": round(n / rerun_one_s),
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

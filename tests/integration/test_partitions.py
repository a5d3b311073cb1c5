"""The partitioned bars table (migration 0015): the migration keeps every row, writers create
the partitions they need (concurrently too), the DEFAULT partitions stay empty."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from core.models import Bar, Instrument
from core.storage.db import connect, sync_instruments
from core.storage.migrations import MIGRATIONS_DIR, migrate
from core.storage.partitions import bar_partitions
from core.storage.writers import write_bars
from tests.unit.storage.samples import daily_bars

INSTRUMENTS = [
    Instrument("AAPL", "Apple", "NASDAQ", "USD", "America/New_York"),
    Instrument("MSFT", "Microsoft", "NASDAQ", "USD", "America/New_York"),
]
CHECKSUM = "SELECT count(*), sum(hashtextextended(b::text, 0)) FROM bars b"
WHERE_ROWS_ARE = "SELECT tableoid::regclass::text AS part, count(*) FROM bars GROUP BY 1 ORDER BY 1"


def minute_bars(instrument_id: str, t0: datetime, n: int) -> list[Bar]:
    """`n` one-minute bars from `t0`."""
    return [
        Bar(instrument_id, "1m", t0 + timedelta(minutes=i), 10.0 + i, 11.0 + i, 9.0 + i,
            10.5 + i, 100 + i, "yahoo")
        for i in range(n)
    ]  # fmt: skip


async def _rows_by_partition(conn: asyncpg.Connection) -> dict[str, int]:
    return {r["part"]: r["count"] for r in await conn.fetch(WHERE_ROWS_ARE)}


async def test_migration_moves_every_bar_into_its_partition(fresh_dsn: str, tmp_path: Path) -> None:
    before_0015 = tmp_path / "migrations"
    before_0015.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("00*.sql")):
        if int(path.name[:4]) < 15:
            shutil.copy(path, before_0015)
    conn = await connect(fresh_dsn)
    try:
        assert (await migrate(conn, before_0015))[-1] == "0014_backups"
        await sync_instruments(conn, INSTRUMENTS)
        # Daily history since 1985 and intraday bars of two months, written as before 0015.
        old = daily_bars("AAPL", n=400, t0=datetime(1985, 3, 1, 21, tzinfo=UTC))
        old += daily_bars("MSFT", n=9000, t0=datetime(2000, 1, 3, 21, tzinfo=UTC))
        old += minute_bars("AAPL", datetime(2026, 10, 31, 20, tzinfo=UTC), 300)
        await conn.copy_records_to_table(
            "bars",
            records=[(b.instrument_id, b.interval, b.ts, b.open, b.high, b.low, b.close,
                      b.volume, b.provider, b.partial) for b in old],
            columns=["instrument_id", "interval", "ts", "open", "high", "low", "close",
                     "volume", "provider", "partial"],
        )  # fmt: skip
        before = tuple(await conn.fetchrow(CHECKSUM))
        assert before[0] == 9700

        assert (await migrate(conn))[0] == "0015_bars_partitioned"

        assert tuple(await conn.fetchrow(CHECKSUM)) == before  # every row, byte for byte
        where = await _rows_by_partition(conn)
        assert where["bars_daily_1985"] == 306 and where["bars_daily_1986"] == 94
        assert sum(n for p, n in where.items() if p.startswith("bars_daily_20")) == 9000
        assert where["bars_intraday_2026_10"] + where["bars_intraday_2026_11"] == 300
        assert not any(p.endswith("_default") for p in where)
        assert (
            await conn.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'bars'") == "p"
        )
        # The primary key still refuses a repeated bar.
        assert (await write_bars(conn, old[:10])).unchanged == 10
    finally:
        await conn.close()


async def test_a_bar_in_a_new_far_month_creates_its_partition(
    migrated_pool: asyncpg.Pool,
) -> None:
    async with migrated_pool.acquire() as conn:
        await sync_instruments(conn, INSTRUMENTS)
        names = {p.name for p in await bar_partitions(conn)}
        assert "bars_daily_1962" not in names and "bars_intraday_2099_07" not in names
        past = daily_bars("AAPL", n=3, t0=datetime(1962, 1, 2, 21, tzinfo=UTC))
        future = minute_bars("MSFT", datetime(2099, 7, 31, 23, 58, tzinfo=UTC), 4)
        assert (await write_bars(conn, past + future)).inserted == 7
        where = await _rows_by_partition(conn)
        assert where == {"bars_daily_1962": 3, "bars_intraday_2099_07": 2,
                         "bars_intraday_2099_08": 2}  # fmt: skip
        # A row that reached a DEFAULT partition (an INSERT that bypassed the writer) moves
        # into its partition when a writer creates it.
        await conn.execute(
            "INSERT INTO bars (instrument_id, interval, ts, provider) "
            "VALUES ('AAPL', '1d', '2077-05-01 21:00+00', 'manual')"
        )
        assert (await _rows_by_partition(conn))["bars_daily_default"] == 1
        later = daily_bars("AAPL", n=1, t0=datetime(2077, 6, 1, 21, tzinfo=UTC))
        assert (await write_bars(conn, later)).inserted == 1
        where = await _rows_by_partition(conn)
        assert where["bars_daily_2077"] == 2 and "bars_daily_default" not in where


async def test_concurrent_writers_creating_one_partition_all_succeed(
    migrated_pool: asyncpg.Pool,
) -> None:
    async with migrated_pool.acquire() as conn:
        await sync_instruments(conn, INSTRUMENTS)
    t0 = datetime(2101, 3, 1, tzinfo=UTC)
    # Eight writers, each its own transaction, all needing bars_intraday_2101_03 (and the
    # big ones trying the direct COPY first), started together.
    batches = [minute_bars(("AAPL", "MSFT")[i % 2], t0 + timedelta(hours=6 * i), 50 + 100 * (i % 3))
               for i in range(8)]  # fmt: skip

    async def write(batch: list[Bar]) -> int:
        async with migrated_pool.acquire() as conn, conn.transaction():
            result = await write_bars(conn, batch)
            await asyncio.sleep(0.05)  # hold the transaction while the others run
            return result.inserted

    inserted = await asyncio.gather(*(write(b) for b in batches))
    assert inserted == [len(b) for b in batches]
    async with migrated_pool.acquire() as conn:
        where = await _rows_by_partition(conn)
        names = [p.name for p in await bar_partitions(conn) if p.name.startswith("bars_intra")]
    assert where == {"bars_intraday_2101_03": sum(inserted)}
    assert names.count("bars_intraday_2101_03") == 1

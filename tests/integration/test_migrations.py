"""Migrations: applied once, in order, even with concurrent migrators."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from core.models import Instrument
from core.storage.db import connect, sync_instruments
from core.storage.migrations import MigrationError, discover, migrate

EXPECTED_TABLES = {
    "instruments", "bars", "corporate_actions", "articles", "article_instruments",
    "disclosures", "job_runs", "schema_migrations",
}  # fmt: skip


async def _tables(dsn: str) -> set[str]:
    conn = await connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_applies_all_then_nothing(fresh_dsn: str) -> None:
    conn = await connect(fresh_dsn)
    try:
        first = await migrate(conn)
        second = await migrate(conn)
        assert first == [f"{m.version:04d}_{m.name}" for m in discover()]
        assert second == []
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(first)
    finally:
        await conn.close()
    assert await _tables(fresh_dsn) >= EXPECTED_TABLES


async def test_concurrent_connections_apply_once(fresh_dsn: str) -> None:
    conns = [await connect(fresh_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [r for r in results if r]
        assert len(applied) == 1, results
        rows = await conns[0].fetch("SELECT version FROM schema_migrations")
        assert sorted(r["version"] for r in rows) == [m.version for m in discover()]
    finally:
        for c in conns:
            await c.close()


async def test_two_processes_migrating_at_once(fresh_dsn: str) -> None:
    script = (
        "import asyncio, sys\n"
        "from core.storage.db import connect\n"
        "from core.storage.migrations import migrate\n"
        "async def main():\n"
        "    c = await connect(sys.argv[1])\n"
        "    print(len(await migrate(c)))\n"
        "asyncio.run(main())\n"
    )
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, fresh_dsn, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outs = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    counts = sorted(int(out.decode().strip()) for out, _ in outs)
    assert counts == [0, len(discover())]
    conn = await connect(fresh_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(discover())
    finally:
        await conn.close()


async def test_edited_migration_is_refused(fresh_dsn: str, tmp_path: Path) -> None:
    for m in discover():
        (tmp_path / f"{m.version:04d}_{m.name}.sql").write_text(m.sql)
    conn = await connect(fresh_dsn)
    try:
        await migrate(conn, tmp_path)
        first = sorted(tmp_path.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, tmp_path)
    finally:
        await conn.close()


def test_gaps_in_numbering_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0003_c.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="without gaps"):
        discover(tmp_path)


async def test_instrument_sync_is_idempotent(fresh_dsn: str) -> None:
    conn = await connect(fresh_dsn)
    try:
        await migrate(conn)
        aapl = Instrument("AAPL", "Apple", "NASDAQ", "USD", "America/New_York", {"yahoo": "AAPL"})
        assert await sync_instruments(conn, [aapl]) == 1
        assert await sync_instruments(conn, [aapl]) == 0
        renamed = Instrument("AAPL", "Apple Inc.", "NASDAQ", "USD", "America/New_York", {})
        assert await sync_instruments(conn, [renamed]) == 1
        row = await conn.fetchrow("SELECT name, symbols FROM instruments WHERE id = 'AAPL'")
        assert (row["name"], row["symbols"]) == ("Apple Inc.", {})
    finally:
        await conn.close()


async def test_0009_turns_stored_yahoo_bars_back_into_as_traded(
    fresh_dsn: str, tmp_path: Path
) -> None:
    # A database as the previous version left it: Yahoo bars divided by the splits known
    # when they were fetched, AV bars as traded, a split-adjusted Yahoo dividend.
    shipped = Path(__file__).resolve().parents[2] / "core" / "migrations"
    for path in sorted(shipped.glob("000[1-8]_*.sql")):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    conn = await connect(fresh_dsn)
    try:
        await migrate(conn, tmp_path)
        await sync_instruments(conn, [Instrument("NVDA", "NVIDIA", "NASDAQ", "USD",
                                                 "America/New_York")])  # fmt: skip
        await conn.execute(
            """INSERT INTO corporate_actions VALUES
                   ('NVDA', 'split', '2024-06-10', 10, NULL, 'yahoo'),
                   ('NVDA', 'dividend', '2024-06-05', NULL, 0.004, 'yahoo')"""
        )
        await conn.execute(
            """INSERT INTO bars (instrument_id, interval, ts, open, high, low, close, adj_close,
                                 volume, provider, fetched_at) VALUES
                   ('NVDA', '1d', '2024-06-07 13:30Z', 120, 121, 119, 120.89, 120.8, 4120000,
                    'yahoo', '2024-07-01Z'),
                   ('NVDA', '1d', '2024-06-06 13:30Z', 124, 125, 118, 121.0, 120.9, 4000000,
                    'yahoo', '2024-06-07Z'),
                   ('NVDA', '1d', '2024-06-05 13:30Z', 1200, 1230, 1190, 1224.4, NULL, 500000,
                    'alphavantage', '2024-07-01Z'),
                   ('NVDA', '1d', '2024-06-10 13:30Z', 117, 123, 117, 121.79, 121.7, 3140000,
                    'yahoo', '2024-07-01Z')"""
        )
        assert (await migrate(conn))[0] == "0009_prices_as_traded"  # and any later ones
        rows = await conn.fetch("SELECT ts::date AS day, close, volume FROM bars ORDER BY ts")
        by_day = {str(r["day"]): (r["close"], r["volume"]) for r in rows}
        dividend = await conn.fetchval(
            "SELECT amount FROM corporate_actions WHERE kind = 'dividend'"
        )
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'bars'"
        )
    finally:
        await conn.close()
    # Fetched after the split: multiplied back by 10, volume divided by 10.
    assert by_day["2024-06-07"][0] == pytest.approx(1208.9)
    assert by_day["2024-06-07"][1] == 412000
    # Fetched before the split existed: already as traded, left alone.
    assert by_day["2024-06-06"] == (121.0, 4000000)
    # Alpha Vantage's bar and the split day itself are as traded already.
    assert by_day["2024-06-05"] == (1224.4, 500000)
    assert by_day["2024-06-10"] == (121.79, 3140000)
    assert dividend == pytest.approx(0.04)
    names = {r["column_name"] for r in columns}
    assert "partial" in names and "adj_close" not in names

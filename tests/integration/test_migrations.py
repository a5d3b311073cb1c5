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

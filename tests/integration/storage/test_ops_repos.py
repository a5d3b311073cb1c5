"""The scheduler's and the backup's repositories on a real Postgres: schedule state and runs,
the database's facts, the tables list and the DROP statement a restore runs through psql."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from core.storage import catalog, schedule_runs, schedule_state
from core.storage.db import connect

SLOT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_schedule_state_keeps_a_known_next_due_and_lists_the_heartbeat(
    conn: asyncpg.Connection,
) -> None:
    assert await schedule_state.get_state(conn, "daily") is None
    await schedule_state.save_state(conn, "daily", SLOT, SLOT + timedelta(days=1))
    await schedule_state.save_state(conn, "daily", SLOT + timedelta(days=1), None)
    state = await schedule_state.get_state(conn, "daily")
    assert state is not None
    assert (state.last_slot, state.next_due) == (SLOT + timedelta(days=1), SLOT + timedelta(days=1))
    await schedule_state.beat(conn, "*")
    await schedule_state.beat(conn, "*")
    rows = await schedule_state.list_states(conn)
    assert [r.schedule for r in rows] == ["*", "daily"]
    assert rows[0].last_slot is None and rows[0].heartbeat_at is not None


async def test_schedule_runs_record_once_and_find_the_newest_submission(
    conn: asyncpg.Connection,
) -> None:
    assert await schedule_runs.last_submitted(conn, "daily") is None
    assert await schedule_runs.record_run(conn, "daily", SLOT, "s-1", "submitted", "s-1")
    later = SLOT + timedelta(hours=1)
    assert await schedule_runs.record_run(conn, "daily", later, "s-2", "submitted", "s-2")
    assert not await schedule_runs.record_run(conn, "daily", later, "s-2", "submit_failed", "x")
    await schedule_runs.record_run(
        conn, "daily", later + timedelta(hours=1), "s-3", "skipped_overlap", None
    )
    assert await schedule_runs.last_submitted(conn, "daily") == "s-2"
    assert await schedule_runs.last_submitted(conn, "other") is None


async def test_database_facts_change_with_a_row_and_agree_with_count(
    conn: asyncpg.Connection,
) -> None:
    before = await catalog.database_facts(conn)
    assert "schedule_runs" in before.tables and "schema_migrations" in before.tables
    assert [m.version for m in before.migrations] == list(range(1, len(before.migrations) + 1))
    await schedule_runs.record_run(conn, "daily", SLOT, "s-1", "submitted", None)
    after = await catalog.database_facts(conn)
    assert after.tables["schedule_runs"].rows == before.tables["schedule_runs"].rows + 1
    assert after.tables["schedule_runs"].checksum != before.tables["schedule_runs"].checksum
    assert after.tables["bars"] == before.tables["bars"]
    assert after == await catalog.database_facts(conn)  # the same rows, the same facts


async def test_public_tables_and_the_drop_statement_of_odd_names(
    conn: asyncpg.Connection, fresh_dsn: str
) -> None:
    await conn.execute('CREATE TABLE "odd""name" (x int)')
    assert 'odd"name' in await catalog.public_tables(conn)
    await conn.execute(catalog.drop_tables_statement(['odd"name', "never_was"]))
    assert 'odd"name' not in await catalog.public_tables(conn)
    version = await catalog.server_version(conn)
    assert version.major >= 14 and version.text.startswith(str(version.major))
    other = await connect(fresh_dsn)
    try:
        assert await catalog.other_sessions(conn) >= 1
        async with catalog.exported_snapshot(conn) as snapshot:
            assert snapshot
    finally:
        await other.close()

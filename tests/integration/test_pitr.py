"""Point-in-time recovery on its own embedded Postgres (archiving on, as `up` starts it):
a base backup (`jobs.basebackup`), rows written and deleted around a noted instant,
`stockray restore --to-time` back to it, retention of base backups and WAL, and bad
targets refused without touching anything."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from cluster import postgres
from configs.settings import Settings, load_settings
from core.pitr import archive, basebackups
from core.storage import backups
from core.storage.db import connect, run_connected
from core.wait import poll
from tests.integration.test_stack import Stack

pytestmark = [pytest.mark.timeout(300)]


@dataclass
class Home:
    """A stack home whose embedded Postgres archives WAL; its settings and CLI."""

    stack: Stack
    settings: Settings

    @property
    def pgdata(self) -> Path:
        return postgres.pgdata_dir(self.settings)

    @property
    def dsn(self) -> str:
        return postgres.start_embedded(self.settings).uri or ""

    def job(self, *args: str) -> tuple[int, dict]:
        """`python -m jobs.basebackup ARGS` on this home's database; exit code and summary."""
        env = {**self.stack.env, "STOCKRAY_DATABASE_URL": self.dsn}
        done = subprocess.run(
            [sys.executable, "-m", "jobs.basebackup", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        lines = done.stdout.strip().splitlines()
        assert lines, done.stderr
        return done.returncode, json.loads(lines[-1])


@pytest.fixture(scope="module")
def home() -> Iterator[Home]:
    stack = Stack(Path(tempfile.mkdtemp(prefix="srp", dir="/tmp")))  # short: socket paths
    settings = load_settings(home=stack.home)
    state = postgres.start_embedded(settings)
    postgres.prepare_database(state.uri or "", settings)
    yield Home(stack, settings)
    postgres.stop_embedded(postgres.pgdata_dir(settings))
    shutil.rmtree(stack.root, ignore_errors=True)


async def _sql(dsn: str, *statements: str) -> list:
    conn = await connect(dsn)
    try:
        out = []
        for statement in statements:
            out.append(await conn.fetch(statement))
        return out
    finally:
        await conn.close()


def sql(dsn: str, *statements: str) -> list:
    return asyncio.run(_sql(dsn, *statements))


def _archived(dsn: str, segment: str) -> bool:
    (rows,) = sql(dsn, "SELECT last_archived_wal FROM pg_stat_archiver")
    return (rows[0]["last_archived_wal"] or "") >= segment


def test_archiving_is_on_and_the_archive_fills(home: Home) -> None:
    (rows,) = sql(home.dsn, "SELECT name, setting FROM pg_settings WHERE name LIKE 'archive_%'")
    got = {r["name"]: r["setting"] for r in rows}
    assert got["archive_mode"] == "on"
    assert got["archive_timeout"] == str(home.settings.archive_timeout_s)
    wal_dir = archive.cluster_archive(
        home.settings.wal_archive_dir, archive.system_identifier(home.pgdata)
    )
    assert str(wal_dir) in got["archive_command"]
    ((switched,),) = sql(home.dsn, "SELECT pg_walfile_name(pg_switch_wal())")
    assert poll(lambda: _archived(home.dsn, switched[0]), timeout_s=30)
    assert switched[0] in archive.segments(wal_dir)


def test_restore_to_a_noted_time_brings_back_exactly_its_rows(home: Home) -> None:
    dsn = home.dsn
    sql(dsn, "CREATE TABLE probe (id int PRIMARY KEY)", "INSERT INTO probe VALUES (1), (2)")
    code, summary = home.job()
    assert code == 0, summary
    assert summary["counts"]["taken"] == 1 and summary["counts"]["verified"] is True
    (row,) = run_connected(dsn, lambda c: backups.listing(c, "base"))
    assert row.path == summary["backup"] and row.verified_at is not None

    sql(dsn, "INSERT INTO probe VALUES (3)", "DELETE FROM probe WHERE id = 1")
    ((noted,),) = sql(dsn, "SELECT clock_timestamp() AS t")
    noted_at = noted["t"]
    sql(dsn, "INSERT INTO probe VALUES (4), (5)", "DELETE FROM probe WHERE id IN (2, 3)")
    ((switched,),) = sql(dsn, "SELECT pg_walfile_name(pg_switch_wal())")
    assert poll(lambda: _archived(dsn, switched[0]), timeout_s=30)

    before = sorted(p.name for p in home.stack.home.iterdir())
    # Refused, nothing touched: running without --force, before the oldest base backup,
    # in the future, unparsable.
    refusals = {
        noted_at.isoformat(): "the stack is running",
        "2001-01-01 00:00:00+00": "before the oldest base backup",
        "2999-01-01 00:00:00+00": "in the future",
        "x": "not a time",
    }
    for when, why in refusals.items():
        done = home.stack.run("restore", "--to-time", when)
        assert done.returncode == 2 and why in done.stderr, done.stderr
        assert sorted(p.name for p in home.stack.home.iterdir()) == before
    assert postgres.embedded_running(home.pgdata)

    done = home.stack.run("restore", "--to-time", noted_at.isoformat(), "--force")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "timeline         2" in done.stdout
    (kept,) = home.stack.home.glob("pg.pre-restore-*")
    assert (kept / "PG_VERSION").exists() and not (home.stack.home / "pg.pitr").exists()

    (rows,) = sql(home.dsn, "SELECT id FROM probe ORDER BY id")
    assert [r["id"] for r in rows] == [2, 3]
    # The restored server archives its new timeline into the same archive.
    ((switched,),) = sql(home.dsn, "SELECT pg_walfile_name(pg_switch_wal())")
    assert switched[0].startswith("00000002")
    assert poll(lambda: _archived(home.dsn, switched[0]), timeout_s=30)


def test_a_time_after_the_last_commit_of_a_cleanly_stopped_server_is_its_end(
    home: Home,
) -> None:
    sql(home.dsn, "INSERT INTO probe VALUES (6)")  # the last commit; no archive switch
    postgres.stop_embedded(home.pgdata)
    ((now,),) = sql(home.dsn, "SELECT clock_timestamp() AS t")  # restarted, nothing written
    postgres.stop_embedded(home.pgdata)
    done = home.stack.run("restore", "--to-time", now["t"].isoformat())
    assert done.returncode == 0, done.stdout + done.stderr
    (rows,) = sql(home.dsn, "SELECT id FROM probe ORDER BY id")
    assert [r["id"] for r in rows] == [2, 3, 6]


def _age(backup: basebackups.BaseBackup, days: int) -> None:
    """Make a base backup look `days` old (its recorded finish time)."""
    old = backup.finished_at - timedelta(days=days)
    aged = backup.model_copy(update={"finished_at": old, "started_at": old})
    (backup.path / basebackups.INFO).write_text(aged.model_dump_json())


def test_retention_prunes_old_base_backups_and_wal_but_keeps_the_newest(home: Home) -> None:
    root = home.stack.home / "basebackups"
    code, summary = home.job()
    assert code == 0, summary
    first, *_ = basebackups.listing(root)[::-1]  # the oldest
    newest = basebackups.listing(root)[0]
    wal_dir = archive.cluster_archive(home.settings.wal_archive_dir, newest.system_id)
    assert any(s < newest.start_wal[8:] for s in (n[8:] for n in archive.segments(wal_dir)))
    _age(first, 100)

    code, summary = home.job("--prune-only")
    assert code == 0, summary
    assert summary["counts"]["pruned"] >= 1 and summary["counts"]["wal_files_pruned"] >= 1
    assert not first.path.exists() and newest.path.exists()
    kept = basebackups.listing(root)
    oldest_kept = min(b.start_wal[8:] for b in kept)
    assert all(n[8:] >= oldest_kept for n in archive.segments(wal_dir))
    paths = {b.path for b in run_connected(home.dsn, lambda c: backups.listing(c, "base"))}
    assert str(first.path) not in paths

    for b in kept:  # every one past the retention: the newest still stays
        _age(b, 100)
    code, summary = home.job("--prune-only")
    assert code == 0, summary
    assert [b.path for b in basebackups.listing(root)] == [newest.path]
    assert os.listdir(newest.data)


def test_a_logical_backup_is_recorded_once_checked(home: Home) -> None:
    dsn = home.dsn
    done = home.stack.run("backup")
    assert done.returncode == 0, done.stdout + done.stderr
    (written,) = (home.stack.home / "backups").iterdir()
    (row,) = run_connected(dsn, lambda c: backups.listing(c, "logical"))
    assert row.path == str(written) and row.verified_at is not None
    assert row.bytes > 0 and row.finished_at >= row.started_at

"""Writing a backup: pg_dump and the table facts from one snapshot, the lake, the manifest."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from cluster import postgres
from cluster.backup.errors import BackupError
from cluster.backup.files import copy_lake, sha256
from cluster.backup.manifest import DUMP, FORMAT, Manifest, PostgresDump
from cluster.backup.tools import client_tool, embedded_uri, last_line, libpq
from cluster.backup.verify import verify_backup
from configs.settings import Settings
from core.storage import backups, catalog
from core.storage.db import connect, run_connected


@dataclass(frozen=True)
class Dumped:
    """What `pg_dump` read and the database's facts in the same snapshot."""

    server_version: str
    pg_dump_major: int
    database: str | None
    facts: catalog.DatabaseFacts


async def dump_in_snapshot(dsn: str, dump: Path) -> Dumped:
    """pg_dump to `dump` and the table facts, both from one exported snapshot."""
    conn = await connect(dsn)
    try:
        server = await catalog.server_version(conn)
        pg_dump, dump_major = client_tool("pg_dump", server.major)
        url, env = libpq(dsn)
        async with catalog.exported_snapshot(conn) as snapshot:
            proc = await asyncio.create_subprocess_exec(
                *[pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={dump}"],
                *["--no-password", f"--dbname={url}"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            facts = await catalog.database_facts(conn)  # meanwhile, in the same snapshot
            _, err = await proc.communicate()
        if proc.returncode != 0:
            raise BackupError(f"pg_dump failed: {last_line(err.decode(errors='replace'))}")
        database = urlsplit(dsn).path.lstrip("/") or None
        return Dumped(server.text, dump_major, database, facts)
    finally:
        await conn.close()


def default_path(settings: Settings) -> Path:
    """`<home>/backups/<UTC timestamp>`."""
    return settings.home / "backups" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _dsn(settings: Settings) -> tuple[str, bool]:
    """The database to dump, and whether its embedded server was started here for it."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value(), False
    pgdata = postgres.pgdata_dir(settings)
    if not (pgdata / "PG_VERSION").exists():
        raise BackupError(f"no database in {pgdata}: nothing to back up", 2)
    started = not postgres.embedded_running(pgdata)
    return embedded_uri(pgdata), started


def backup(settings: Settings, path: Path) -> Manifest:
    """Write a backup directory at `path` (which must not exist or be empty); its manifest.

    Once complete it is checked (`verify_backup`: every file's sha256) and recorded in
    `backups` (kind 'logical', `verified_at` when the check passed)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{path} already exists and is not empty; choose a new PATH", 2)
    started, started_at = time.monotonic(), datetime.now(UTC)
    dsn, started_pg = _dsn(settings)
    try:
        manifest = _write(settings, path, dsn, started)
        _record(dsn, path, manifest, started_at)
    finally:
        if started_pg:
            postgres.stop_embedded(postgres.pgdata_dir(settings))
    return manifest


def _write(settings: Settings, path: Path, dsn: str, started: float) -> Manifest:
    # Written beside PATH and renamed at the end: a PATH with a manifest is complete.
    staging = path.with_name(f".{path.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    pg = asyncio.run(dump_in_snapshot(dsn, staging / DUMP))
    lake = copy_lake(settings.home / "lake", staging / "lake")
    os.sync()  # once, before the manifest marks the backup complete (one fsync per file is slow)
    manifest = Manifest(
        format=FORMAT,
        created_at=datetime.now(UTC),
        stockray_version=_version(),
        postgres=PostgresDump(
            embedded=settings.database_url is None,
            server_version=pg.server_version,
            pg_dump_major=pg.pg_dump_major,
            database=pg.database,
            bytes=(staging / DUMP).stat().st_size,
            sha256=sha256(staging / DUMP),
        ),
        migrations=pg.facts.migrations,
        checksum_method=catalog.CHECKSUM_METHOD,
        tables=pg.facts.tables,
        sequences=pg.facts.sequences,
        lake=lake,
        seconds=round(time.monotonic() - started, 3),
    )
    manifest.write(staging)
    if path.exists():
        path.rmdir()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.rename(staging, path)
    return manifest


def _record(dsn: str, path: Path, manifest: Manifest, started_at: datetime) -> None:
    """Check the written backup and record it in `backups` (a database without that table,
    an older schema, gets a warning: the backup itself is complete)."""
    verify_backup(path)  # BackupError if a file does not read back as written
    row = backups.Backup(
        kind="logical",
        path=str(path),
        started_at=started_at,
        finished_at=manifest.created_at,
        bytes=manifest.postgres.bytes + sum(e.bytes for e in manifest.lake),
        verified_at=datetime.now(UTC),
        detail={"tables": len(manifest.tables), "lake_files": len(manifest.lake)},
    )
    try:
        run_connected(dsn, lambda conn: backups.record(conn, row))
    except asyncpg.UndefinedTableError:
        print(
            "stockray backup: not recorded (no `backups` table: run `stockray migrate`)",
            file=sys.stderr,
        )


def _version() -> str:
    try:
        return importlib.metadata.version("stockray")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"

"""The server's WAL and recovery state: archiving settings, WAL switches, `pg_stat_archiver`,
and whether (and how far) a restored server recovered. Server-wide; no table of ours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.storage.db import Db

ARCHIVING = ("wal_level", "archive_mode", "archive_command", "archive_timeout")


async def archiving_settings(db: Db) -> dict[str, str]:
    """The server's current values of the archiving settings (`ARCHIVING`), as `SHOW` gives."""
    rows = await db.fetch(
        "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])", list(ARCHIVING)
    )
    return {r["name"]: r["setting"] for r in rows}


async def pending_restart(db: Db) -> list[str]:
    """Settings changed in the files that only a restart applies."""
    rows = await db.fetch("SELECT name FROM pg_settings WHERE pending_restart ORDER BY name")
    return [r["name"] for r in rows]


async def reload_conf(db: Db) -> None:
    """Have the server re-read its configuration files (SIGHUP)."""
    await db.execute("SELECT pg_reload_conf()")


async def switch_wal(db: Db) -> str:
    """Close the current WAL segment (so it is archived now); the name of the one closed."""
    return await db.fetchval("SELECT pg_walfile_name(pg_switch_wal())")


@dataclass(frozen=True)
class Archiver:
    """`pg_stat_archiver`: the last WAL segment archived and the last failure."""

    archived_count: int
    last_archived_wal: str | None
    last_archived_time: datetime | None
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: datetime | None


async def archiver(db: Db) -> Archiver:
    """The archiver's counters (`pg_stat_archiver`)."""
    row = await db.fetchrow(
        """SELECT archived_count, last_archived_wal, last_archived_time, failed_count,
                  last_failed_wal, last_failed_time FROM pg_stat_archiver"""
    )
    return Archiver(**dict(row))


@dataclass(frozen=True)
class Recovery:
    """A server's recovery state: still recovering, the commit time of the last transaction
    it replayed (None if it replayed none), and its timeline once out of recovery."""

    in_recovery: bool
    last_replayed_at: datetime | None
    timeline: int | None


async def recovery(db: Db) -> Recovery:
    """Whether the server is still in recovery, how far it replayed, and its timeline."""
    row = await db.fetchrow(
        """SELECT pg_is_in_recovery() AS in_recovery,
                  pg_last_xact_replay_timestamp() AS last_replayed_at,
                  CASE WHEN NOT pg_is_in_recovery()
                       THEN pg_walfile_name(pg_current_wal_lsn()) END AS wal"""
    )
    timeline = int(row["wal"][:8], 16) if row["wal"] else None
    return Recovery(row["in_recovery"], row["last_replayed_at"], timeline)


async def newest_migration(db: Db) -> int | None:
    """The newest migration applied (a restored server's schema is readable), or None."""
    return await db.fetchval("SELECT max(version) FROM schema_migrations")

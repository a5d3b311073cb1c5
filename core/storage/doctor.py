"""What `stockray doctor` reads from Postgres's own views: connections and WAL archiving."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from core.storage.db import Db


@dataclass(frozen=True)
class Connections:
    """Backends open now, and how many clients may open (max_connections less reserved)."""

    used: int
    limit: int


@dataclass(frozen=True)
class Archiver:
    """`pg_stat_archiver` and `archive_mode`; `ready` = segments waiting to be archived
    (None when this role may not list pg_wal/archive_status)."""

    enabled: bool
    archived: int
    failed: int
    last_archived_wal: str | None
    last_archived_at: datetime | None
    last_failed_at: datetime | None
    ready: int | None


async def connections(db: Db) -> Connections:
    """Client backends now, against the connections non-superusers may open."""
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
                      AS used,
                  current_setting('max_connections')::int
                  - current_setting('superuser_reserved_connections')::int AS limit"""
    )
    return Connections(int(row["used"]), int(row["limit"]))


async def archiver(db: Db) -> Archiver:
    """The archiver's counters and times, and the backlog when it can be listed."""
    row = await db.fetchrow(
        """SELECT current_setting('archive_mode') <> 'off' AS enabled, archived_count,
                  failed_count, last_archived_wal, last_archived_time, last_failed_time
           FROM pg_stat_archiver"""
    )
    try:
        ready = await db.fetchval(
            "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"
        )
    except asyncpg.InsufficientPrivilegeError:  # needs superuser or pg_monitor
        ready = None
    return Archiver(
        enabled=bool(row["enabled"]),
        archived=int(row["archived_count"]),
        failed=int(row["failed_count"]),
        last_archived_wal=row["last_archived_wal"],
        last_archived_at=row["last_archived_time"],
        last_failed_at=row["last_failed_time"],
        ready=None if ready is None else int(ready),
    )

"""What `stockray doctor` reads from Postgres's own views: connections and the WAL backlog
(the archiver's counters and settings are `core.storage.wal`'s)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from core.storage.db import Db


@dataclass(frozen=True)
class Connections:
    """Backends open now, and how many clients may open (max_connections less reserved)."""

    used: int
    limit: int


async def connections(db: Db) -> Connections:
    """Client backends now, against the connections non-superusers may open."""
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
                      AS used,
                  current_setting('max_connections')::int
                  - current_setting('superuser_reserved_connections')::int AS limit"""
    )
    return Connections(int(row["used"]), int(row["limit"]))


async def archive_backlog(db: Db) -> int | None:
    """WAL segments waiting for `archive_command` (`.ready` files); None when this role may
    not list `pg_wal/archive_status` (it needs superuser or pg_monitor)."""
    try:
        found = await db.fetchval(
            "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"
        )
    except asyncpg.InsufficientPrivilegeError:
        return None
    return int(found)

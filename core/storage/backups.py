"""`backups`: one row per backup taken (logical dumps and PITR base backups)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import asyncpg

from core.storage.db import Db

Kind = Literal["logical", "base"]


@dataclass(frozen=True)
class Backup:
    """A backup: where it is, when it was taken, its size, and when it was last verified."""

    kind: Kind
    path: str
    started_at: datetime
    finished_at: datetime
    bytes: int
    verified_at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _backup(row: asyncpg.Record) -> Backup:
    return Backup(
        kind=row["kind"],
        path=row["path"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        bytes=row["bytes"],
        verified_at=row["verified_at"],
        detail=json.loads(row["detail"]),
    )


_COLUMNS = "kind, path, started_at, finished_at, bytes, verified_at, detail"


async def record(db: Db, backup: Backup) -> None:
    """Record a backup; recording the same path again replaces its row (a re-run is safe)."""
    await db.execute(
        f"""INSERT INTO backups ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
            ON CONFLICT (path) DO UPDATE SET kind = EXCLUDED.kind,
                started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
                bytes = EXCLUDED.bytes, verified_at = EXCLUDED.verified_at,
                detail = EXCLUDED.detail""",
        backup.kind,
        backup.path,
        backup.started_at,
        backup.finished_at,
        backup.bytes,
        backup.verified_at,
        json.dumps(backup.detail),
    )


async def mark_verified(db: Db, path: str, at: datetime) -> bool:
    """Note that the backup at `path` was verified at `at`; False if no such backup."""
    done = await db.execute("UPDATE backups SET verified_at = $2 WHERE path = $1", path, at)
    return done == "UPDATE 1"


async def newest(db: Db, kind: Kind) -> Backup | None:
    """The newest backup of `kind`, if any."""
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM backups WHERE kind = $1 ORDER BY finished_at DESC LIMIT 1", kind
    )
    return _backup(row) if row else None


async def newest_each(db: Db) -> dict[Kind, Backup]:
    """The newest backup of each kind that has one, in one query."""
    rows = await db.fetch(
        f"""SELECT DISTINCT ON (kind) {_COLUMNS} FROM backups
            ORDER BY kind, finished_at DESC"""
    )
    return {r["kind"]: _backup(r) for r in rows}


async def listing(db: Db, kind: Kind | None = None) -> list[Backup]:
    """Every backup (of `kind`, if given), newest first."""
    rows = await db.fetch(
        f"""SELECT {_COLUMNS} FROM backups WHERE $1::text IS NULL OR kind = $1
            ORDER BY finished_at DESC""",
        kind,
    )
    return [_backup(r) for r in rows]


async def forget(db: Db, paths: list[str]) -> int:
    """Delete the rows of backups that were pruned; how many went."""
    done = await db.execute("DELETE FROM backups WHERE path = ANY($1::text[])", paths)
    return int(done.split()[-1])

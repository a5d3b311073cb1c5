"""`python -m jobs.basebackup`: a base backup for point-in-time recovery, then retention.

    python -m jobs.basebackup [--prune-only] [--trace-id ID]

Takes a base backup of the database (`pg_basebackup -Fp -X stream` into
`<home>/basebackups/<UTC time>/`, checked by `pg_verifybackup`; see core/pitr/basebackups.py)
and records it in `backups` (kind 'base'). Then prunes: base backups older than
STOCKRAY_PITR_RETENTION_DAYS (the newest is always kept) and their `backups` rows, and the
archived WAL older than the oldest kept base backup (`pg_archivecleanup`). One `job_runs`
row holds the counts; the last line is the JSON summary. Exit codes: 0 succeeded, 1 failed,
2 bad arguments, 3 degraded (the backup was taken, but the server does not archive its WAL,
so it cannot be rolled forward to a later instant). Runs in the driver (no Ray task): it is
one program on the database's host.
"""

from __future__ import annotations

import asyncio
import fcntl
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from configs.settings import Settings
from core.jobs.maintenance import BaseBackupRequest
from core.jobs.results import JobSummary
from core.pitr import archive, basebackups
from core.pitr.tools import ToolError
from core.storage import backups, catalog, job_runs, wal
from core.storage.db import connect
from jobs.common import read_request, start_job, summary_line

PROG = "jobs.basebackup"
EXIT_DEGRADED = 3


class BaseBackupSummary(JobSummary):
    """`jobs.basebackup`: the backup taken (None with --prune-only or on failure), what
    retention removed, and the error if it failed."""

    kind: Literal["basebackup"] = "basebackup"
    status: str
    backup: str | None = None
    counts: dict[str, Any]
    error: str | None = None


def backup_root(settings: Settings) -> Path:
    """Where base backups go: `<home>/basebackups`."""
    return settings.home / "basebackups"


async def _take(conn: Any, dsn: str, root: Path, counts: dict[str, Any]) -> str:
    server = await catalog.server_version(conn)
    taken = await asyncio.to_thread(basebackups.take, dsn, root, server.major)
    await backups.record(
        conn,
        backups.Backup(
            kind="base",
            path=str(taken.path),
            started_at=taken.started_at,
            finished_at=taken.finished_at,
            bytes=taken.bytes,
            verified_at=taken.verified_at,
            detail={"start_wal": taken.start_wal, "timeline": taken.timeline,
                    "system_id": taken.system_id, "method": "pg_basebackup -Fp -X stream"},
        ),
    )  # fmt: skip
    counts.update(taken=1, bytes=taken.bytes, verified=taken.verified_at is not None)
    return str(taken.path)


def prune(settings: Settings, now: datetime) -> tuple[list[str], int, int]:
    """Remove base backups past the retention and the WAL no kept one needs: the paths of
    the backups removed, WAL files removed, backups kept."""
    root = backup_root(settings)
    found = basebackups.listing(root)
    gone = basebackups.past_retention(found, now, settings.pitr_retention_days)
    basebackups.remove(gone, root)
    kept = [b for b in found if b not in gone]
    wal_files = 0
    for system_id in {b.system_id for b in kept}:
        oldest = min((b for b in kept if b.system_id == system_id), key=lambda b: b.finished_at)
        wal_dir = archive.cluster_archive(settings.wal_archive_dir, system_id)
        if wal_dir.is_dir():  # an external server's archive may be on its own host
            wal_files += archive.prune_wal(wal_dir, oldest.start_wal)
    others = settings.wal_archive_dir.glob("*") if settings.wal_archive_dir.is_dir() else []
    cutoff = now - timedelta(days=settings.pitr_retention_days)
    for wal_dir in others:
        if wal_dir.is_dir() and wal_dir.name not in {b.system_id for b in kept}:
            wal_files += archive.prune_older(wal_dir, cutoff)
    return [str(b.path) for b in gone], wal_files, len(kept)


async def _run(settings: Settings, request: BaseBackupRequest, trace_id: str) -> BaseBackupSummary:
    dsn = settings.database_url.get_secret_value()
    started = time.monotonic()
    counts: dict[str, Any] = {"taken": 0, "bytes": 0, "verified": False}
    conn = await connect(dsn)
    try:
        run_id = await job_runs.start_run(conn, PROG.removeprefix("jobs."), trace_id,
                                          {"prune_only": request.prune_only})  # fmt: skip
        taken, status, error = None, "succeeded", None
        try:
            archiving = await wal.archiving_settings(conn)
            counts["archiving"] = archiving.get("archive_mode", "off")
            if not request.prune_only:
                taken = await _take(conn, dsn, backup_root(settings), counts)
            gone, wal_files, kept = await asyncio.to_thread(prune, settings, datetime.now(UTC))
            await backups.forget(conn, gone)
            counts.update(pruned=len(gone), wal_files_pruned=wal_files, kept=kept)
            if counts["archiving"] == "off":
                status, error = "degraded", "the server does not archive WAL (archive_mode=off)"
        except (ToolError, OSError) as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        counts["seconds"] = round(time.monotonic() - started, 3)
        await job_runs.finish_run(conn, run_id, status, counts, error)
    finally:
        await conn.close()
    return BaseBackupSummary(run_id=str(run_id), trace_id=trace_id, status=status,
                             backup=taken, counts=counts, error=error)  # fmt: skip


def parse_args(argv: Sequence[str] | None = None) -> BaseBackupRequest:
    """The command line as the job's request (`BaseBackupRequest.from_argv`)."""
    return read_request(BaseBackupRequest, PROG, argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 succeeded, 1 failed, 2 bad arguments, 3 degraded (no WAL archiving)."""
    job = start_job(PROG, parse_args(argv))
    root = backup_root(job.settings)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(root / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{PROG}: another base backup is running (lock {root / '.lock'})", flush=True)
            return 1
        summary = asyncio.run(_run(job.settings, job.request, job.trace_id))
    summary_line(summary)
    return {"succeeded": 0, "degraded": EXIT_DEGRADED}.get(summary.status, 1)


if __name__ == "__main__":
    raise SystemExit(main())

"""`stockray restore --to-time T`: the embedded database as it was at instant T.

The newest base backup finished by T (`<home>/basebackups`, see core/pitr) is copied to
`<home>/pg.pitr`, with the WAL the stopped server had not archived yet; `recovery.signal`
and `stockray.conf` (restore_command from the archive, recovery_target_time = T, then
promote) make Postgres replay the archived WAL up to T. Once it is out of recovery, its
schema readable and its last replayed commit at or before T, it is stopped and swapped in
as `<home>/pg`; the previous data dir is kept as `<home>/pg.pre-restore-<stamp>`. Until the
swap, nothing of the live data is changed: a failed replay leaves `<home>/pg` as it was.
The lake is not touched (Postgres is authoritative; collectors rewrite lake files).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from cluster import postgres
from cluster.backup.errors import BackupError
from cluster.backup.files import swap
from configs.settings import Settings
from core.pitr import archive, basebackups
from core.pitr.tools import client_tool, run_tool, server_user
from core.storage import wal
from core.storage.db import run_connected
from core.wait import poll

STAGING = "pg.pitr"
RECOVERY_TIMEOUT_S = 3600.0
NOT_REACHED = "recovery ended before configured recovery target was reached"


def parse_target(text: str, now: datetime | None = None) -> datetime:
    """The instant `--to-time` names (with its UTC offset), or BackupError exit 2."""
    try:
        target = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BackupError(
            f"--to-time: {text!r} is not a time; give e.g. '2026-12-01 09:30:00+00'", 2
        ) from None
    if target.tzinfo is None:
        raise BackupError(f"--to-time: {text!r} has no UTC offset; add one, e.g. +00", 2)
    if target > (now or datetime.now(UTC)):
        raise BackupError(f"--to-time: {text!r} is in the future", 2)
    return target.astimezone(UTC)


@dataclass(frozen=True)
class Recovered:
    """What a point-in-time restore did: the base backup used, the last commit replayed,
    the new timeline, the seconds the replay took, and where the previous data is."""

    backup: basebackups.BaseBackup
    target: datetime
    last_replayed_at: datetime | None
    timeline: int | None
    newest_migration: int | None
    replay_s: float
    kept: Path | None


def choose_backup(settings: Settings, target: datetime) -> basebackups.BaseBackup:
    """The newest base backup finished by `target`, or BackupError exit 2 saying why none."""
    root = settings.home / "basebackups"
    found = basebackups.listing(root)
    if not found:
        raise BackupError(f"no base backups in {root}; take one with `stockray basebackup`", 2)
    chosen = basebackups.before(found, target)
    if chosen is None:
        oldest = found[-1].finished_at.isoformat(sep=" ", timespec="seconds")
        raise BackupError(
            f"--to-time: {target.isoformat(sep=' ')} is before the oldest base backup "
            f"(finished {oldest}); the earliest instant to restore is {oldest}",
            2,
        )
    return chosen


def restore_to_time(settings: Settings, target: datetime, force: bool) -> Recovered:
    """Bring the embedded database back to `target`; the stack is left stopped."""
    from cluster.backup.load import stop_running_stack

    if settings.database_url is not None:
        raise BackupError(
            "--to-time restores the embedded Postgres; recover STOCKRAY_DATABASE_URL's server "
            "with its own base backup and archive (README: Point-in-time recovery)",
            2,
        )
    chosen = choose_backup(settings, target)
    stop_running_stack(settings, force)
    pgdata = postgres.pgdata_dir(settings)
    postgres.stop_embedded(pgdata)  # one not started by `up`
    staging = pgdata.with_name(STAGING)
    wal_dir = archive.cluster_archive(settings.wal_archive_dir, chosen.system_id)
    live_end = _clean_end(pgdata, chosen)
    started = time.monotonic()
    try:
        state = _attempt(chosen, pgdata, staging, archive.RecoveryTarget(target, wal_dir))
    except WalEndsEarly as early:
        # No commit after `target` in the WAL. If that WAL is all the stopped server wrote
        # (replay reached its shutdown checkpoint), its end IS the state at `target`.
        if live_end is None or early.redo_done < live_end:
            raise
        state = _attempt(chosen, pgdata, staging, archive.RecoveryTarget(None, wal_dir))
    replay_s = time.monotonic() - started
    archive.install_conf(staging, archive.server_conf(wal_dir, settings.archive_timeout_s))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = swap(pgdata, staging, stamp)
    return Recovered(chosen, target, *state, replay_s, kept)


def _attempt(
    chosen: basebackups.BaseBackup, live: Path, staging: Path, target: archive.RecoveryTarget
) -> tuple[datetime | None, int | None, int | None]:
    postgres.stop_embedded(staging)  # an interrupted restore may have left it running
    shutil.rmtree(staging, ignore_errors=True)
    _stage(chosen, live, staging, target)
    try:
        return _recover(staging, target.time)
    finally:
        postgres.stop_embedded(staging)


class WalEndsEarly(BackupError):
    """Replay reached the end of the WAL before the target (no commit after it)."""

    def __init__(self, message: str, redo_done: int) -> None:
        super().__init__(message)
        self.redo_done = redo_done


def _lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def _clean_end(live: Path, chosen: basebackups.BaseBackup) -> int | None:
    """Where the stopped server's WAL ends (its shutdown checkpoint), if it was shut down
    cleanly and is the backup's cluster (so its WAL is copied into the restore)."""
    if not (live / "global" / "pg_control").exists():
        return None
    tool, _ = client_tool("pg_controldata", 0)
    out = dict(
        (k.strip(), v.strip())
        for k, _, v in (ln.partition(":") for ln in run_tool([tool, "-D", str(live)]).splitlines())
    )
    if out.get("Database system identifier") != chosen.system_id:
        return None
    if out.get("Database cluster state") != "shut down":
        return None
    return _lsn(out["Latest checkpoint location"])


def _stage(
    chosen: basebackups.BaseBackup, live: Path, staging: Path, target: archive.RecoveryTarget
) -> None:
    """The base backup as a data dir at `staging`, set to recover to `target`."""
    shutil.copytree(chosen.data, staging, symlinks=True)
    live_wal = live / "pg_wal"
    same_cluster = (live / "global" / "pg_control").exists() and (
        archive.system_identifier(live) == chosen.system_id
    )
    if same_cluster and live_wal.is_dir():
        # The stopped server's last segments may not be archived yet (the docs' step 6).
        for name in archive.segments(live_wal):
            shutil.copy2(live_wal / name, staging / "pg_wal" / name)
    # The embedded server keeps its socket in the data dir, and pg_basebackup copies the
    # socket's lock file (naming the postmaster of the backup's time): once swapped in, a
    # live process with that PID (the old server still exiting, or a reused PID) would stop
    # the restored server from starting. It is never valid in a copy.
    for stale in staging.glob(".s.PGSQL.*.lock"):
        stale.unlink()
    (staging / "log").write_text("")
    (staging / "recovery.signal").write_text("")
    archive.install_conf(staging, archive.server_conf(target.wal_dir, 0, target))
    staging.chmod(0o700)
    if (user := server_user()) is not None:
        for path in [staging, *staging.rglob("*")]:
            shutil.chown(path, user, user)


def _recover(staging: Path, target: datetime) -> tuple[datetime | None, int | None, int | None]:
    """Start the staged server, wait until it has replayed to `target` and promoted, and
    check it: (last commit replayed, timeline, newest migration), or BackupError."""
    pg_ctl, _ = client_tool("pg_ctl", 0)
    sockets = Path(tempfile.mkdtemp(prefix="stockray-pitr-"))
    sockets.chmod(0o777)
    dsn = f"postgresql://postgres@/postgres?host={sockets}"
    try:
        start = [pg_ctl, "-D", str(staging), "-w", "-t", str(int(RECOVERY_TIMEOUT_S)),
                 "-l", str(staging / "log"), "-o", f'-h "" -k {sockets}', "start"]  # fmt: skip
        done = subprocess.run(start, capture_output=True, text=True, user=server_user())
        if done.returncode != 0:
            raise _why_not(staging, target)

        def state() -> wal.Recovery | None:
            if not postgres.embedded_running(staging):
                raise _why_not(staging, target)
            try:
                return run_connected(dsn, wal.recovery)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return None

        rec = poll(state, timeout_s=RECOVERY_TIMEOUT_S, interval_s=0.2,
                   until=lambda r: r is not None and not r.in_recovery)  # fmt: skip
        if rec is None or rec.in_recovery:
            raise BackupError(f"the restored server is still recovering after "
                              f"{RECOVERY_TIMEOUT_S:.0f}s; see {staging / 'log'}")  # fmt: skip
        try:
            migration = run_connected(dsn, wal.newest_migration)
        except asyncpg.PostgresError as exc:
            raise BackupError(f"the restored database has no readable schema: {exc}") from None
        if target and rec.last_replayed_at and rec.last_replayed_at > target:
            raise BackupError(
                f"the restored server replayed past {target} (to {rec.last_replayed_at})"
            )
        return rec.last_replayed_at, rec.timeline, migration
    finally:
        shutil.rmtree(sockets, ignore_errors=True)


def _why_not(staging: Path, target: datetime | None) -> BackupError:
    log = (staging / "log").read_text(errors="replace") if (staging / "log").exists() else ""
    if target is not None and NOT_REACHED in log:
        last = [ln for ln in log.splitlines() if "last completed transaction was at" in ln]
        when = last[-1].split("log time", 1)[-1].strip() if last else "unknown"
        redo = re.search(r"redo done at ([0-9A-F]+/[0-9A-F]+)", log)
        return WalEndsEarly(
            f"the archived WAL ends before {target.isoformat(sep=' ')} (its last transaction "
            f"is at {when}); choose an earlier time. Nothing was changed",
            _lsn(redo[1]) if redo else 0,
        )
    fatal = [ln for ln in log.splitlines() if "FATAL" in ln or "PANIC" in ln]
    detail = fatal[-1] if fatal else f"see {staging / 'log'}"
    return BackupError(f"the restored server did not recover ({detail}); nothing was changed")

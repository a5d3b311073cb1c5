"""Base backups: `pg_basebackup` into `<root>/<UTC time>/data`, checked by
`pg_verifybackup`, described by `stockray.json`; found again on disk, chosen for a
recovery target, and pruned past the retention (always keeping the newest).

Plain format with `-X stream`: each backup is a data dir that holds the WAL it needs to be
consistent, so `pg_verifybackup` checks its files AND parses that WAL (PG 16 verifies only
plain backups), and a restore is a copy, not an extraction. The archive is needed only to
replay past the backup's end.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

from core.pitr.archive import system_identifier
from core.pitr.tools import ToolError, client_tool, libpq, run_tool

INFO = "stockray.json"
DATA = "data"
STAMP = "%Y%m%dT%H%M%SZ"


class BaseBackup(BaseModel):
    """One base backup: its directory, when it ran, its size, the first WAL segment it needs
    (where replay starts), the cluster it is of, and when `pg_verifybackup` passed."""

    path: Path
    started_at: datetime
    finished_at: datetime
    bytes: int
    start_wal: str
    timeline: int
    system_id: str
    server_major: int
    verified_at: datetime | None = None

    @property
    def data(self) -> Path:
        """The backup's data dir (what a restore copies)."""
        return self.path / DATA


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _label(data: Path) -> tuple[str, int]:
    text = (data / "backup_label").read_text()
    wal = re.search(r"^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)", text, re.M)
    timeline = re.search(r"^START TIMELINE: (\d+)", text, re.M)
    if not wal or not timeline:
        raise ToolError(f"{data / 'backup_label'}: no start WAL location or timeline")
    return wal[1], int(timeline[1])


def verify(backup: BaseBackup) -> datetime:
    """Check the backup's files against its manifest and parse its WAL (pg_verifybackup);
    when it passed (ToolError if it did not)."""
    tool, _ = client_tool("pg_verifybackup", backup.server_major)
    run_tool([tool, "--quiet", str(backup.data)])
    return datetime.now(UTC)


def take(dsn: str, root: Path, server_major: int) -> BaseBackup:
    """A verified base backup of the server at `dsn` in `root/<UTC time>/` (written as
    `.<time>.partial` and renamed once complete and verified)."""
    started = datetime.now(UTC)
    path = root / started.strftime(STAMP)
    if path.exists():
        raise ToolError(f"{path} exists already (a base backup this second); try again")
    staging = root / f".{path.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    try:
        tool, _ = client_tool("pg_basebackup", server_major)
        url, env = libpq(dsn)
        run_tool(
            [tool, "-D", str(staging / DATA), "-Fp", "-X", "stream", "-c", "fast",
             "--no-password", "-l", f"stockray {path.name}", "-d", url],
            env=env,
        )  # fmt: skip
        start_wal, timeline = _label(staging / DATA)
        backup = BaseBackup(
            path=path,
            started_at=started,
            finished_at=datetime.now(UTC),
            bytes=_size(staging / DATA),
            start_wal=start_wal,
            timeline=timeline,
            system_id=system_identifier(staging / DATA),
            server_major=server_major,
        )
        checked = backup.model_copy(update={"path": staging})
        backup = backup.model_copy(update={"verified_at": verify(checked)})
        (staging / INFO).write_text(backup.model_dump_json(indent=2))
        os.sync()
        os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return backup


def listing(root: Path) -> list[BaseBackup]:
    """The complete base backups under `root`, newest first."""
    found = []
    for info in root.glob(f"*/{INFO}") if root.is_dir() else []:
        backup = BaseBackup.model_validate_json(info.read_text())
        found.append(backup.model_copy(update={"path": info.parent}))
    return sorted(found, key=lambda b: b.finished_at, reverse=True)


def before(backups: list[BaseBackup], target: datetime) -> BaseBackup | None:
    """The newest backup that had finished by `target` (its WAL can replay up to it)."""
    return next((b for b in backups if b.finished_at <= target), None)


def past_retention(backups: list[BaseBackup], now: datetime, days: int) -> list[BaseBackup]:
    """The backups older than `days`, never the newest one."""
    cutoff = now - timedelta(days=days)
    return [b for b in backups[1:] if b.finished_at < cutoff]


def remove(backups: list[BaseBackup], root: Path) -> None:
    """Delete these backups' directories, and unfinished ones (`.*.partial`) left by a crash."""
    for backup in backups:
        shutil.rmtree(backup.path)
    for partial in root.glob(".*.partial"):
        shutil.rmtree(partial, ignore_errors=True)

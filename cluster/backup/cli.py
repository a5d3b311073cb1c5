"""`stockray backup` and `stockray restore`: run a phase, print what it did, map the exit."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cluster.backup import pitr
from cluster.backup.dump import backup, default_path
from cluster.backup.errors import BackupError
from cluster.backup.load import restore
from cluster.backup.manifest import MANIFEST
from configs.settings import Settings


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """Write a backup (Postgres dump + lake + manifest) to PATH."""
    path = Path(args.path).expanduser().resolve() if args.path else default_path(settings)
    try:
        manifest = backup(settings, path)
    except BackupError as exc:
        print(f"stockray backup: {exc}", file=sys.stderr)
        return exc.exit_code
    rows = sum(t.rows for t in manifest.tables.values())
    lake_bytes = sum(e.bytes for e in manifest.lake)
    print(f"stockray backup: {path}")
    print(
        f"  postgres  {len(manifest.tables)} tables, {rows} rows, "
        f"dump {_size(manifest.postgres.bytes)}"
    )
    print(f"  lake      {len(manifest.lake)} files, {_size(lake_bytes)}")
    print(f"  took {manifest.seconds:.1f}s")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Restore a stopped stack's data from a backup directory, or to an instant (--to-time)."""
    if getattr(args, "to_time", None) is not None:
        if args.path:
            print("stockray restore: give PATH or --to-time, not both", file=sys.stderr)
            return 2
        return _restore_to_time(settings, args)
    if not args.path:
        print("stockray restore: give PATH (a backup directory) or --to-time", file=sys.stderr)
        return 2
    path = Path(args.path).expanduser().resolve()
    started = time.monotonic()
    try:
        done = restore(settings, path, args.force)
    except BackupError as exc:
        print(f"stockray restore: {exc}", file=sys.stderr)
        return exc.exit_code
    for line in done.lines:
        print(f"  {line}")
    if not done.verified:
        where = "the database" if settings.database_url else "nothing"
        print(
            f"stockray restore: the restored data does not match {path / MANIFEST}; "
            f"{where} was changed",
            file=sys.stderr,
        )
        return 1
    took = time.monotonic() - started
    print(f"stockray restore: {path} restored into {settings.home} in {took:.1f}s")
    for k in done.kept:
        print(f"  previous data kept in {k} (delete it once satisfied)")
    print("  the stack is stopped: run `stockray up` to start it")
    return 0


def _restore_to_time(settings: Settings, args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        target = pitr.parse_target(args.to_time)
        done = pitr.restore_to_time(settings, target, args.force)
    except BackupError as exc:
        print(f"stockray restore: {exc}", file=sys.stderr)
        return exc.exit_code
    when = done.last_replayed_at.isoformat(sep=" ") if done.last_replayed_at else "none"
    print(f"  base backup      {done.backup.path} (finished {done.backup.finished_at})")
    print(f"  target           {done.target.isoformat(sep=' ')}")
    print(f"  last commit      {when} (replayed in {done.replay_s:.1f}s)")
    print(f"  timeline         {done.timeline}; out of recovery; schema at migration "
          f"{done.newest_migration}")  # fmt: skip
    took = time.monotonic() - started
    print(f"stockray restore: {settings.home / 'pg'} is as of {target} ({took:.1f}s)")
    if done.kept:
        print(f"  previous data kept in {done.kept} (delete it once satisfied)")
    print("  the stack is stopped: run `stockray up`, then `stockray basebackup` (new timeline)")
    return 0

"""Continuous archiving: the server settings that turn it on, the archive and restore
commands, the cluster's part of the archive, and pruning WAL no base backup needs."""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.pitr.tools import client_tool, run_tool

CONF = "stockray.conf"
"""Our settings file in the data dir, included by postgresql.conf (rewritten at each start)."""
INCLUDE = f"include_if_exists = '{CONF}'"
WAL_SEGMENT = re.compile(r"^[0-9A-F]{24}$")
SYSTEM_ID_BYTES = 8  # pg_control begins with the cluster's 64-bit system identifier


def system_identifier(pgdata: Path) -> str:
    """The cluster's system identifier (what `pg_controldata` prints), read from pg_control."""
    raw = (pgdata / "global" / "pg_control").read_bytes()[:SYSTEM_ID_BYTES]
    return str(int.from_bytes(raw, sys.byteorder))


def cluster_archive(archive: Path, system_id: str) -> Path:
    """The part of the archive holding one cluster's WAL."""
    return archive / system_id


def archive_command(wal_dir: Path) -> str:
    """Copy segment %p to `wal_dir` as %f: to a temp name, synced, then renamed, so a
    reader never sees half a file; an existing file is never replaced (success only if it
    is the same bytes, which a retry after a crash finds)."""
    final, temp = shlex.quote(f"{wal_dir}/"), shlex.quote(f"{wal_dir}/.")
    return (
        f'f={final}%f; t={temp}%f.tmp; if [ -e "$f" ]; then cmp -s %p "$f"; '
        f'else cp %p "$t" && sync "$t" && mv "$t" "$f"; fi'
    )


def restore_command(wal_dir: Path) -> str:
    """Fetch segment %f from `wal_dir` into %p (fails, as Postgres expects, if absent)."""
    return f"cp {shlex.quote(str(wal_dir))}/%f %p"


@dataclass(frozen=True)
class RecoveryTarget:
    """Where a restored server stops replaying: the instant (None: the end of the WAL), and
    the archive to read."""

    time: datetime | None
    wal_dir: Path


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def server_conf(wal_dir: Path, timeout_s: int, target: RecoveryTarget | None = None) -> str:
    """The text of `stockray.conf`: archiving on into `wal_dir`, and a recovery target."""
    lines = [
        "# Written by stockray at each start (cluster/postgres.py); edits are overwritten.",
        "wal_level = replica",
        "archive_mode = on",
        f"archive_command = {_quote(archive_command(wal_dir))}",
        f"archive_timeout = {timeout_s}",
    ]
    if target is not None:
        lines += [
            f"restore_command = {_quote(restore_command(target.wal_dir))}",
            "recovery_target_action = promote",
            "recovery_target_timeline = latest",
        ]
        if target.time is not None:
            lines.append(f"recovery_target_time = {_quote(target.time.isoformat(sep=' '))}")
    return "\n".join(lines) + "\n"


def install_conf(pgdata: Path, text: str) -> None:
    """Write `stockray.conf` (atomically) and have postgresql.conf include it, once."""
    temp = pgdata / f".{CONF}.tmp"
    temp.write_text(text)
    os.replace(temp, pgdata / CONF)
    main = pgdata / "postgresql.conf"
    if INCLUDE not in main.read_text().splitlines():
        with main.open("a") as f:
            f.write(f"\n# stockray: archiving and recovery settings\n{INCLUDE}\n")
    if os.geteuid() == 0:  # root runs the server as another user: give it the files
        owner = pgdata.stat()
        for path in (pgdata / CONF, main):
            os.chown(path, owner.st_uid, owner.st_gid)


def segments(wal_dir: Path) -> list[str]:
    """The WAL segment files in `wal_dir`, in order."""
    if not wal_dir.is_dir():
        return []
    return sorted(p.name for p in wal_dir.iterdir() if WAL_SEGMENT.match(p.name))


def prune_wal(wal_dir: Path, oldest_needed: str) -> int:
    """Delete the archived WAL before segment `oldest_needed` (pg_archivecleanup); how many
    files went. Timeline history files stay."""
    before = sum(1 for _ in wal_dir.iterdir())
    tool, _ = client_tool("pg_archivecleanup", 0)
    run_tool([tool, str(wal_dir), oldest_needed])
    return before - sum(1 for _ in wal_dir.iterdir())


def prune_older(wal_dir: Path, cutoff: datetime) -> int:
    """Delete the files in `wal_dir` last written before `cutoff` (the WAL of a cluster no
    kept base backup is of: a replaced one, or this one before its first base backup)."""
    gone = 0
    for path in wal_dir.iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff.timestamp():
            path.unlink()
            gone += 1
    return gone

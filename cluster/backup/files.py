"""The backup's files: copying with sha256, the lake's files, staging and swapping dirs."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from cluster.backup.errors import BackupError
from cluster.backup.manifest import LakeFile
from core.storage.lake import locked as lake_file_locked

_CHUNK = 1 << 20


def copy_hashed(src: Path, dst: Path) -> tuple[int, str]:
    """Copy `src` to `dst`, returning its size and sha256 (the caller syncs to disk)."""
    digest, size = hashlib.sha256(), 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            fout.write(chunk)
    return size, digest.hexdigest()


def sha256(path: Path) -> str:
    """The file's sha256, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def lake_files(root: Path) -> list[Path]:
    """Regular files under the lake, minus dot-files (locks, writers' temp files)."""
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def copy_lake(src: Path, dst: Path) -> list[LakeFile]:
    """Copy the lake at `src` to `dst`, file by file; what was copied."""
    entries = []
    for path in lake_files(src):
        # Whole-file swaps make every copy intact; the lock makes it wait for a write in flight.
        with lake_file_locked(path):
            size, digest = copy_hashed(path, dst / path.relative_to(src))
        entries.append(LakeFile(path=str(path.relative_to(src)), bytes=size, sha256=digest))
    return entries


def stage_lake(backup_lake: Path, entries: list[LakeFile], staging: Path) -> None:
    """Copy the backup's lake files to `staging` (emptied first), checking each sha256."""
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for entry in entries:
        _, digest = copy_hashed(backup_lake / entry.path, staging / entry.path)
        if digest != entry.sha256:
            raise BackupError(f"{staging / entry.path}: sha256 mismatch after copying")
    os.sync()


def swap(live: Path, staged: Path, stamp: str) -> Path | None:
    """Put `staged` where `live` is; the previous `live` is kept and returned."""
    kept = None
    if live.exists():
        kept = live.with_name(f"{live.name}.pre-restore-{stamp}")
        os.rename(live, kept)
    os.rename(staged, live)
    return kept

"""Checking a backup: its files before a restore, its migrations against this code, and the
restored database's facts against the manifest's."""

from __future__ import annotations

from pathlib import Path

from cluster.backup.errors import BackupError
from cluster.backup.files import sha256
from cluster.backup.manifest import MANIFEST, Manifest, read_manifest
from core.storage.catalog import DatabaseFacts
from core.storage.migrations import discover


def verify_backup(path: Path) -> Manifest:
    """The manifest, once every file it lists has its recorded sha256 (else BackupError)."""
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise BackupError(f"{path}: no such backup directory", 2)
    if not manifest_path.is_file():
        raise BackupError(f"{manifest_path}: missing; not a stockray backup, or unfinished", 2)
    manifest = read_manifest(manifest_path)
    for rel, want in manifest.files():
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise BackupError(f"{manifest_path}: corrupt manifest (path {rel!r} leaves the backup)")
        if not (path / rel).is_file():
            raise BackupError(f"{path / rel}: missing from the backup")
        if sha256(path / rel) != want:
            raise BackupError(f"{path / rel}: sha256 mismatch, the backup is corrupt")
    return manifest


def check_migrations(manifest: Manifest) -> None:
    """BackupError (exit 2) if the backup has a migration this code lacks or has otherwise."""
    known = {m.version: m for m in discover()}
    for m in manifest.migrations:
        code = known.get(m.version)
        if code is None or code.checksum != m.checksum:
            why = "does not know" if code is None else "has with a different text"
            raise BackupError(
                f"the backup has migration {m.version:04d}_{m.name}, which this code {why}; "
                f"restore it with stockray {manifest.stockray_version}",
                2,
            )


def compare_facts(expected: DatabaseFacts, found: DatabaseFacts) -> list[str]:
    """One line per table and sequence; lines for mismatches start with 'MISMATCH'."""
    lines = []
    for name in sorted(set(expected.tables) | set(found.tables)):
        want, got = expected.tables.get(name), found.tables.get(name)
        ok = want == got
        rows, checksum = (got.rows, got.checksum) if got else ("-", "absent")
        shown_want = want.model_dump() if want else None
        lines.append(
            f"{'ok      ' if ok else 'MISMATCH'} table {name:<22} rows {rows!s:>8}  "
            f"checksum {checksum}" + ("" if ok else f"  (backup: {shown_want})")
        )
    for name in sorted(set(expected.sequences) | set(found.sequences)):
        want_value, got_value = expected.sequences.get(name), found.sequences.get(name)
        mark = "ok      " if want_value == got_value else "MISMATCH"
        lines.append(f"{mark} sequence {name:<19} last_value {got_value} (backup: {want_value})")
    return lines

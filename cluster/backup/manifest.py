"""The backup's `manifest.json` as a typed model: what was dumped, every file's sha256, and
the database's facts (row counts, checksums, sequences, migrations) to verify a restore by.

The JSON file's format is `stockray-backup/1`; this model reads and writes it unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError, field_serializer

from cluster.backup.errors import BackupError
from core.storage.catalog import AppliedMigration, DatabaseFacts, FrozenModel, TableFacts

FORMAT = "stockray-backup/1"
DUMP = "postgres.dump"
MANIFEST = "manifest.json"


class LakeFile(FrozenModel):
    """A lake file in the backup: its path under `lake/`, size and sha256."""

    path: str
    bytes: int
    sha256: str


class PostgresDump(FrozenModel):
    """The dump file and the server it came from."""

    embedded: bool
    server_version: str
    pg_dump_major: int
    database: str | None
    file: str = DUMP
    bytes: int
    sha256: str


class Manifest(FrozenModel):
    """Everything a restore checks: the files' sha256 first, the loaded data's facts after."""

    format: str
    created_at: datetime
    stockray_version: str
    authoritative: str = "postgres"
    consistency: str = (
        "postgres.dump and tables/sequences read one snapshot; the lake was "
        "copied after it and holds at least the rows the dump has"
    )
    postgres: PostgresDump
    migrations: list[AppliedMigration]
    checksum_method: str
    tables: dict[str, TableFacts]
    sequences: dict[str, int | None]
    lake: list[LakeFile]
    seconds: float

    @field_serializer("created_at")
    def _iso_seconds(self, at: datetime) -> str:
        return at.isoformat(timespec="seconds")

    @property
    def facts(self) -> DatabaseFacts:
        """The database's facts as the backup recorded them."""
        return DatabaseFacts(
            tables=self.tables, sequences=self.sequences, migrations=self.migrations
        )

    def files(self) -> Iterator[tuple[str, str]]:
        """(path relative to the backup, sha256) of every file the backup holds."""
        yield DUMP, self.postgres.sha256
        for entry in self.lake:
            yield f"lake/{entry.path}", entry.sha256

    def to_json(self) -> str:
        """The manifest file's text (as `json.dumps` wrote it before this model existed)."""
        return json.dumps(self.model_dump(mode="json"), indent=1) + "\n"

    def write(self, directory: Path) -> None:
        """Write `manifest.json` into `directory`."""
        (directory / MANIFEST).write_text(self.to_json())


def _summary(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the document"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def read_manifest(path: Path) -> Manifest:
    """The manifest at `path`; BackupError (one line) if it is not one."""
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise BackupError(f"{path}: corrupt manifest ({_summary(exc)})") from None
    if manifest.format != FORMAT:
        raise BackupError(f"{path}: format {manifest.format!r}, not {FORMAT}")
    return manifest

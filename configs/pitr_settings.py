"""The settings of point-in-time recovery (cluster/postgres.py, jobs/basebackup.py,
cluster/backup/pitr.py): where WAL is archived, how often a quiet database archives, how
long base backups and WAL are kept. A base class of `configs.settings.Settings`, apart so
that module stays small; read from the environment with the same prefix (`STOCKRAY_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings


class PitrSettings(BaseSettings):
    """Continuous archiving and base backups of the embedded Postgres."""

    wal_archive: Path | None = Field(
        None,
        description="Where the embedded Postgres archives its WAL: a path or file:// URL; "
        "unset = <home>/wal_archive.",
    )
    archive_timeout_s: Annotated[int, Field(ge=0, le=86400)] = Field(
        3600,
        description="Longest a quiet database waits before archiving its current WAL "
        "segment (s); 0 = only full segments.",
    )
    pitr_retention_days: Annotated[int, Field(ge=1)] = Field(
        90,
        description="Days base backups and their WAL are kept (the newest base backup always).",
    )

    @field_validator("wal_archive", mode="before")
    @classmethod
    def _archive_path(cls, value: Any) -> Any:
        if isinstance(value, str) and "://" in value:
            scheme, _, rest = value.partition("://")
            if scheme.lower() != "file" or not rest.startswith("/"):
                raise ValueError(
                    "a local path or file:///path; archive to other stores by mounting them "
                    f"(a {scheme}:// URL is not supported)"
                )
            value = rest
        return None if value in (None, "") else Path(value).expanduser().resolve()

    @property
    def wal_archive_dir(self) -> Path:
        """Where archived WAL goes: STOCKRAY_WAL_ARCHIVE, else `<home>/wal_archive`."""
        return self.wal_archive or self.home / "wal_archive"  # type: ignore[attr-defined]

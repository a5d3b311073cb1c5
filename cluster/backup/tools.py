"""Postgres client tools (pg_dump, pg_restore, psql) and the embedded server, for backups."""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path

from cluster.backup.errors import BackupError
from core.pitr import tools
from core.pitr.tools import last_line, libpq

__all__ = ["client_tool", "embedded_uri", "last_line", "libpq"]


def client_tool(name: str, min_major: int) -> tuple[str, int]:
    """The newest `name` among PATH's and pgserver's (PG 16) that is at least `min_major`."""
    try:
        return tools.client_tool(name, min_major)
    except tools.ToolError as exc:
        raise BackupError(str(exc)) from None


def embedded_uri(pgdata: Path) -> str:
    """Start (or find running) a pgserver cluster at `pgdata`, initialising it if empty."""
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        return pgserver.get_server(pgdata, cleanup_mode=None).get_uri()
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        raise BackupError(f"embedded Postgres in {pgdata} did not start ({exc})") from None

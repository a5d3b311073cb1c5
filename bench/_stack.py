"""Services benchmarks start for themselves: an embedded Postgres in a temp dir."""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.models import Instrument
from core.storage.db import connect, sync_instruments
from core.storage.migrations import migrate


class EmbeddedPostgres:
    """A running pgserver instance; `dsn(name)` connects to one of its databases."""

    def __init__(self, server: Any) -> None:
        self._server = server

    def dsn(self, database: str = "postgres") -> str:
        """The DSN of `database` on this server."""
        return self._server.get_uri(database=database)

    async def fresh_database(self, name: str, instruments: list[Instrument]) -> str:
        """(Re)create database `name`, migrate it, register `instruments`; return its DSN."""
        admin = await connect(self.dsn())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await connect(self.dsn(name))
        try:
            await migrate(conn)
            await sync_instruments(conn, instruments)
        finally:
            await conn.close()
        return self.dsn(name)

    async def drop_database(self, name: str) -> None:
        """Drop database `name` (and its connections)."""
        admin = await connect(self.dsn())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute("CHECKPOINT")  # the next measurement starts from clean buffers
        finally:
            await admin.close()


@contextmanager
def embedded_postgres() -> Iterator[EmbeddedPostgres]:
    """Start a real PostgreSQL (pgserver) in a temp dir; stop and delete it at exit."""
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on servers
        warnings.simplefilter("ignore")
        import pgserver

    root = Path(tempfile.mkdtemp(prefix="srbpg"))
    server = pgserver.get_server(root / "data", cleanup_mode="delete")
    try:
        yield EmbeddedPostgres(server)
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)

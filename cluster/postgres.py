"""PostgreSQL for the stack: the configured URL, or an embedded server from `pgserver`."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import warnings
from pathlib import Path

import asyncpg
import psutil

from cluster.state import PostgresState, StackError
from configs.settings import Settings
from core.storage.db import connect, sync_instruments
from core.storage.migrations import MigrationError, migrate


def pgdata_dir(settings: Settings) -> Path:
    """Where the embedded server keeps its data."""
    return settings.home / "pg"


def embedded_running(pgdata: Path) -> bool:
    """Whether a postmaster for this data dir is alive (without importing pgserver)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (FileNotFoundError, ValueError, IndexError, psutil.NoSuchProcess):
        return False


def start_embedded(settings: Settings) -> PostgresState:
    """Start (or find running) the embedded server; its data survives restarts."""
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on servers
        warnings.simplefilter("ignore")
        import pgserver  # slow to import; only `up` needs it

    pgdata = pgdata_dir(settings)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        raise StackError(
            f"embedded Postgres in {pgdata} did not start ({exc}); see {pgdata / 'log'}"
        ) from None
    return PostgresState(
        embedded=True, pgdata=str(pgdata), uri=server.get_uri(), started_by_up=True
    )


def stop_embedded(pgdata: Path) -> None:
    """Fast shutdown of the embedded server; data stays on disk."""
    if not embedded_running(pgdata):
        return
    from pgserver._commands import POSTGRES_BIN_PATH  # pgserver exposes no public stop

    user = "pgserver" if os.geteuid() == 0 else None
    subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"],
        check=False,
        user=user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )


async def _prepare(dsn: str, settings: Settings) -> list[str]:
    conn = await connect(dsn)
    try:
        applied = await migrate(conn)
        instruments = [i.to_instrument() for i in settings.watchlist.instruments]
        await sync_instruments(conn, instruments)
        return applied
    finally:
        await conn.close()


def prepare_database(dsn: str, settings: Settings) -> list[str]:
    """Apply migrations and sync the watchlist; return the migrations applied now."""
    try:
        return asyncio.run(_prepare(dsn, settings))
    except MigrationError as exc:
        raise StackError(f"database migration failed: {exc}") from None


async def _ping(dsn: str, timeout_s: float) -> None:
    conn = await asyncpg.connect(dsn, timeout=timeout_s)
    await conn.close()


def check_reachable(dsn: str, timeout_s: float = 5.0) -> str | None:
    """None when Postgres answers; otherwise why not (without the DSN's secrets)."""
    try:
        asyncio.run(asyncio.wait_for(_ping(dsn, timeout_s), timeout_s + 1))
    except (OSError, asyncpg.PostgresError, TimeoutError, asyncpg.InterfaceError) as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return None

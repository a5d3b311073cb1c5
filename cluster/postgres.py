"""PostgreSQL for the stack: the configured URL, or an embedded server from `pgserver`."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from cluster.state import PostgresState, StackError
from configs.settings import Settings
from core.pitr import archive
from core.pitr.tools import server_user
from core.storage import wal
from core.storage.db import connect, run_connected, sync_instruments
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
    """Start (or find running) the embedded server, archiving its WAL; data survives restarts.

    Archiving (`stockray.conf` in the data dir, see core/pitr/archive.py) is written before
    each start; a server that runs without it (a new data dir, one from before archiving,
    a changed `wal_level`/`archive_mode`) is restarted once to apply it.
    """
    pgserver = _pgserver()
    pgdata = pgdata_dir(settings)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    fresh = not (pgdata / "PG_VERSION").exists()
    if not fresh:
        configure_archiving(settings, pgdata)
    server = _server(pgserver, pgdata)
    if fresh:
        configure_archiving(settings, pgdata)
    if not run_connected(server.get_uri(), _apply_archiving):
        stop_embedded(pgdata)
        server = _server(pgserver, pgdata)
    return PostgresState(
        embedded=True, pgdata=str(pgdata), uri=server.get_uri(), started_by_up=True
    )


def _pgserver() -> Any:
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on servers
        warnings.simplefilter("ignore")
        import pgserver  # slow to import; only `up` needs it
    return pgserver


def _forget_handle(pgdata: Path) -> None:
    """Drop pgserver's handle of `pgdata`, cached per process: it would say "running" after
    the server was stopped (by this process or another)."""
    if "pgserver" in sys.modules:
        sys.modules["pgserver"].PostgresServer._instances.pop(pgdata.resolve(), None)


def _server(pgserver: Any, pgdata: Path) -> Any:
    if not embedded_running(pgdata):
        _forget_handle(pgdata)
    try:
        return pgserver.get_server(pgdata, cleanup_mode=None)
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        raise StackError(
            f"embedded Postgres in {pgdata} did not start ({exc}); see {pgdata / 'log'}"
        ) from None


async def _apply_archiving(conn: asyncpg.Connection) -> bool:
    """Reload the settings; False if archiving needs a restart to take effect."""
    await wal.reload_conf(conn)
    now = await wal.archiving_settings(conn)
    if now.get("archive_mode") != "on" or now.get("wal_level") not in ("replica", "logical"):
        return False
    return not set(await wal.pending_restart(conn)) & {"archive_mode", "wal_level"}


def wal_archive(settings: Settings, pgdata: Path) -> Path:
    """This cluster's part of the WAL archive (STOCKRAY_WAL_ARCHIVE or <home>/wal_archive,
    then the cluster's system identifier), created and writable by the server's user."""
    wal_dir = archive.cluster_archive(settings.wal_archive_dir, archive.system_identifier(pgdata))
    try:
        wal_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        user = server_user()
        if user is not None:  # root: pgserver runs the server as its own user
            from pgserver.utils import ensure_prefix_permissions

            ensure_prefix_permissions(wal_dir)
            for path in (wal_dir.parent, wal_dir):
                shutil.chown(path, user, user)
    except OSError as exc:
        raise StackError(f"STOCKRAY_WAL_ARCHIVE: cannot use {wal_dir} ({exc})") from None
    return wal_dir


def configure_archiving(settings: Settings, pgdata: Path) -> None:
    """Write the data dir's `stockray.conf`: archiving into `wal_archive(...)`."""
    text = archive.server_conf(wal_archive(settings, pgdata), settings.archive_timeout_s)
    archive.install_conf(pgdata, text)


def stop_embedded(pgdata: Path) -> None:
    """Fast shutdown of the embedded server; data stays on disk."""
    _forget_handle(pgdata)
    if not embedded_running(pgdata):
        return
    from pgserver._commands import POSTGRES_BIN_PATH  # pgserver exposes no public stop

    user = server_user()
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

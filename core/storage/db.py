"""Connecting to Postgres with asyncpg, and the instrument registry sync."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import asyncpg

from core.models import Instrument

# What a repository function takes: a connection, or a pool it borrows one from.
Db = asyncpg.Connection | asyncpg.Pool

T = TypeVar("T")


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects, everywhere, once.
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(dsn: str, timeout_s: float = 10.0) -> asyncpg.Connection:
    """One connection with stockray's codecs."""
    conn = await asyncpg.connect(dsn, timeout=timeout_s)
    await _init_connection(conn)
    return conn


def run_connected(dsn: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`work(conn)` over one fresh connection, closed after, run to its end from synchronous
    code (a CLI command): `asyncio.run`, so not from inside a running event loop."""

    async def session() -> T:
        conn = await connect(dsn)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(session())


class TimedPool(asyncpg.Pool):
    """An asyncpg pool whose every acquire, `pool.fetch(...)` ones included, gives up after
    `acquire_timeout_s` (asyncpg's own default is to wait for ever)."""

    __slots__ = ("acquire_timeout_s",)

    def __init__(self, *args: Any, acquire_timeout_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout_s = acquire_timeout_s

    def acquire(self, *, timeout: float | None = None) -> Any:
        """A connection, waiting at most `timeout` (default: the pool's acquire timeout)."""
        return super().acquire(timeout=self.acquire_timeout_s if timeout is None else timeout)


async def create_pool(
    dsn: str,
    min_size: int = 1,
    max_size: int = 10,
    *,
    command_timeout_s: float | None = None,
    acquire_timeout_s: float | None = None,
    connect_timeout_s: float = 10.0,
) -> asyncpg.Pool:
    """A connection pool with stockray's codecs.

    `command_timeout_s` bounds every query (asyncpg cancels it on the server), and
    `acquire_timeout_s` every wait for a free connection (a connect included); None = none.
    """
    pool = TimedPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=_init_connection,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        timeout=connect_timeout_s,
        command_timeout=command_timeout_s,
        acquire_timeout_s=acquire_timeout_s,
    )
    return await pool


async def sync_instruments(conn: asyncpg.Connection, instruments: Iterable[Instrument]) -> int:
    """Upsert the watchlist into `instruments`; return how many rows changed."""
    rows = [(i.id, i.name, i.exchange, i.currency, i.timezone, i.symbols) for i in instruments]
    if not rows:
        return 0
    result = await conn.fetchval(
        """WITH input AS (
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                    $5::text[], $6::jsonb[])
                             AS t(id, name, exchange, currency, timezone, symbols)),
           changed AS (
               INSERT INTO instruments AS i (id, name, exchange, currency, timezone, symbols)
               SELECT * FROM input
               ON CONFLICT (id) DO UPDATE SET
                   name = EXCLUDED.name, exchange = EXCLUDED.exchange,
                   currency = EXCLUDED.currency, timezone = EXCLUDED.timezone,
                   symbols = EXCLUDED.symbols, updated_at = now()
               WHERE (i.name, i.exchange, i.currency, i.timezone, i.symbols)
                     IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.exchange, EXCLUDED.currency,
                                       EXCLUDED.timezone, EXCLUDED.symbols)
               RETURNING 1)
           SELECT count(*) FROM changed""",
        *[list(col) for col in zip(*rows, strict=True)],
    )
    return int(result)

"""Connecting to Postgres with asyncpg, and the instrument registry sync."""

from __future__ import annotations

import json
from collections.abc import Iterable

import asyncpg

from core.models import Instrument


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects, everywhere, once.
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(dsn: str, timeout_s: float = 10.0) -> asyncpg.Connection:
    """One connection with stockray's codecs."""
    conn = await asyncpg.connect(dsn, timeout=timeout_s)
    await _init_connection(conn)
    return conn


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool with stockray's codecs."""
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, timeout=10
    )


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

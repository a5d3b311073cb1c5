"""The database described by itself, for backups: tables with row checksums, sequences,
applied migrations, the server's version, exported snapshots and other sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import asyncpg
from pydantic import BaseModel, ConfigDict

# Fixed text forms, so the same rows give the same checksum on any server.
_DETERMINISTIC = (
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
    "SET extra_float_digits = 1; SET bytea_output = 'hex'"
)
# Order-free and constant-memory (a string_agg of a big table would hit the 1 GB text limit):
# each row's md5 split in two 64-bit halves, each summed exactly as numeric.
_CHECKSUM = (
    "SELECT count(*), md5(coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)"
    " || ':' || coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0))"
    " FROM (SELECT md5(t::text) AS h FROM {table} t) r"
)
CHECKSUM_METHOD = "md5 of the exact sums of the 64-bit halves of each md5(row::text), UTC text"


class FrozenModel(BaseModel):
    """An immutable record: the facts a backup reads and compares (the manifest's too)."""

    model_config = ConfigDict(frozen=True)


class TableFacts(FrozenModel):
    """A table's row count and order-free checksum of its rows' text."""

    rows: int
    checksum: str


class AppliedMigration(FrozenModel):
    """A row of `schema_migrations`."""

    version: int
    name: str
    checksum: str


class DatabaseFacts(FrozenModel):
    """Every public table's facts, each sequence's last value and the applied migrations."""

    tables: dict[str, TableFacts]
    sequences: dict[str, int | None]
    migrations: list[AppliedMigration]


class ServerVersion(FrozenModel):
    """The server's version as text (`16.4`) and its major number (16)."""

    text: str
    major: int


def _quoted(table: str) -> str:
    return 'public."' + table.replace('"', '""') + '"'


async def database_facts(conn: asyncpg.Connection) -> DatabaseFacts:
    """Row count and checksum of every public table, sequence values and applied migrations.

    Sets the session's text formats (UTC, ISO dates) so that checksums agree across servers.
    """
    await conn.execute(_DETERMINISTIC)
    names = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname"
    )
    tables = {}
    for (name,) in names:
        rows, digest = await conn.fetchrow(_CHECKSUM.format(table=_quoted(name)))
        tables[name] = TableFacts(rows=rows, checksum=digest)
    sequences = {
        r["sequencename"]: r["last_value"]
        for r in await conn.fetch(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' "
            "ORDER BY sequencename"
        )
    }
    migrations = []
    if "schema_migrations" in tables:
        migrations = [
            AppliedMigration(version=r["version"], name=r["name"], checksum=r["checksum"])
            for r in await conn.fetch(
                "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
            )
        ]
    return DatabaseFacts(tables=tables, sequences=sequences, migrations=migrations)


async def server_version(conn: asyncpg.Connection) -> ServerVersion:
    """The version of the server `conn` talks to."""
    text = await conn.fetchval("SHOW server_version")
    number = int(await conn.fetchval("SHOW server_version_num"))
    return ServerVersion(text=text, major=number // 10000)


@asynccontextmanager
async def exported_snapshot(conn: asyncpg.Connection) -> AsyncIterator[str]:
    """A read-only repeatable-read transaction on `conn`, and its exported snapshot's id
    (other sessions, pg_dump's included, can read the same snapshot while it lasts)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        yield await conn.fetchval("SELECT pg_export_snapshot()")


async def public_tables(conn: asyncpg.Connection) -> list[str]:
    """The names of the public schema's tables, sorted."""
    rows = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    return [r["tablename"] for r in rows]


def drop_tables_statement(tables: Iterable[str]) -> str:
    """One `DROP TABLE IF EXISTS ... CASCADE` of these public tables (for a psql script)."""
    return f"DROP TABLE IF EXISTS {', '.join(_quoted(t) for t in tables)} CASCADE"


async def other_sessions(conn: asyncpg.Connection) -> int:
    """How many other client sessions use this database."""
    return await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )

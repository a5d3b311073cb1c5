"""Whether Postgres answers: the readiness probe's one query."""

from __future__ import annotations

import asyncpg


async def ping(db: asyncpg.Connection | asyncpg.Pool) -> None:
    """Run a trivial query; raises whatever keeps the database from answering."""
    await db.fetchval("SELECT 1")

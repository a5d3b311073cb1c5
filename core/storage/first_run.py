"""What `stockray up` asks the database on start: is this its first run?"""

from __future__ import annotations

import asyncpg


async def nothing_collected(conn: asyncpg.Connection) -> bool:
    """Whether no bar is stored and no collect run ever finished (a run killed with a
    failed `up` stays 'running' and does not count)."""
    return not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM bars) "
        "OR EXISTS (SELECT 1 FROM job_runs WHERE kind = 'collect' AND status <> 'running')"
    )


async def has_api_keys(conn: asyncpg.Connection) -> bool:
    """Whether any API key exists (revoked ones count: someone has managed keys here)."""
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM api_keys)")

"""`ws_tickets`: single-use tickets that open one WebSocket as the key that asked for one.

Only a ticket's SHA-256 is stored; the caller hashes. A ticket is spent by redeeming it,
valid or not, so a ticket opens at most one socket.
"""

from __future__ import annotations

import uuid

import asyncpg

from core.storage.api_keys import KeyInfo
from core.storage.db import Db

_KEY_COLUMNS = "k.id, k.name, k.prefix, k.scope, k.created_at, k.last_used_at, k.revoked_at"

_REDEEM = f"""
    WITH spent AS (DELETE FROM ws_tickets WHERE hash = $1 RETURNING key_id, expires_at)
    SELECT {_KEY_COLUMNS} FROM spent JOIN api_keys k ON k.id = spent.key_id
    WHERE spent.expires_at > now() AND k.revoked_at IS NULL"""


async def issue(db: Db, digest: bytes, key_id: uuid.UUID, ttl_s: float) -> None:
    """Store a ticket (by `digest`) for `key_id`, valid `ttl_s` seconds, and sweep away
    expired ones, in one transaction."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await issue(conn, digest, key_id, ttl_s)
    async with db.transaction():
        await db.execute("DELETE FROM ws_tickets WHERE expires_at < now()")
        await db.execute(
            "INSERT INTO ws_tickets (hash, key_id, expires_at) "
            "VALUES ($1, $2, now() + make_interval(secs => $3))",
            digest, key_id, float(ttl_s),
        )  # fmt: skip


async def redeem(db: Db, digest: bytes) -> KeyInfo | None:
    """Spend the ticket with this digest; the unrevoked key it stands for if it had not
    expired, else None."""
    row = await db.fetchrow(_REDEEM, digest)
    return None if row is None else KeyInfo(**dict(row))

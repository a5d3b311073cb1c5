"""A socket's key: tickets (`POST /api/v1/ws/ticket`, then `/ws?ticket=`) and re-checks.

A ticket opens one socket, once, within `TICKET_TTL_S` seconds, as the key that asked for
it. Tickets live in Postgres (table `ws_tickets`, only their SHA-256), so any replica can
take a ticket another one made, with or without Redis; each costs one insert and one
delete, no more than the key check it replaces. Open sockets' keys are re-checked in the
database (`active_keys`), past the per-process cache of verified keys.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from core.storage.api_keys import KeyInfo
from serve_app.context import AppContext

TICKET_TTL_S = 30
_KEY_COLUMNS = "k.id, k.name, k.prefix, k.scope, k.created_at, k.last_used_at, k.revoked_at"


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


async def issue_ticket(ctx: AppContext, key_id: uuid.UUID) -> str:
    """A new single-use ticket for `key_id` (and expired tickets swept away)."""
    ticket = "wst_" + secrets.token_urlsafe(32)
    pool = await ctx.pool()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM ws_tickets WHERE expires_at < now()")
        await conn.execute(
            "INSERT INTO ws_tickets (hash, key_id, expires_at) "
            "VALUES ($1, $2, now() + make_interval(secs => $3))",
            _digest(ticket), key_id, float(TICKET_TTL_S),
        )  # fmt: skip
    return ticket


async def redeem_ticket(ctx: AppContext, ticket: str) -> KeyInfo | None:
    """The unrevoked key a valid ticket stands for, spending the ticket; else None."""
    if not ticket.startswith("wst_") or len(ticket) > 100:
        return None
    pool = await ctx.pool()
    row = await pool.fetchrow(
        f"""WITH spent AS (DELETE FROM ws_tickets WHERE hash = $1 RETURNING key_id, expires_at)
            SELECT {_KEY_COLUMNS} FROM spent JOIN api_keys k ON k.id = spent.key_id
            WHERE spent.expires_at > now() AND k.revoked_at IS NULL""",
        _digest(ticket),
    )
    return None if row is None else KeyInfo(**dict(row))


async def active_keys(ctx: AppContext, key_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `key_ids` are still unrevoked, read from the database (no cache)."""
    if not key_ids:
        return set()
    pool = await ctx.pool()
    rows = await pool.fetch(
        "SELECT id FROM api_keys WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL",
        list(key_ids),
    )
    return {r["id"] for r in rows}

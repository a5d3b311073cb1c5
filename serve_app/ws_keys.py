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

from core.storage import ws_tickets
from core.storage.api_keys import KeyInfo, unrevoked
from serve_app.context import AppContext

TICKET_TTL_S = 30


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


async def issue_ticket(ctx: AppContext, key_id: uuid.UUID) -> str:
    """A new single-use ticket for `key_id` (and expired tickets swept away)."""
    ticket = "wst_" + secrets.token_urlsafe(32)
    await ws_tickets.issue(await ctx.pool(), _digest(ticket), key_id, TICKET_TTL_S)
    return ticket


async def redeem_ticket(ctx: AppContext, ticket: str) -> KeyInfo | None:
    """The unrevoked key a valid ticket stands for, spending the ticket; else None."""
    if not ticket.startswith("wst_") or len(ticket) > 100:
        return None
    return await ws_tickets.redeem(await ctx.pool(), _digest(ticket))


async def active_keys(ctx: AppContext, key_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `key_ids` are still unrevoked, read from the database (no cache)."""
    if not key_ids:
        return set()
    return await unrevoked(await ctx.pool(), key_ids)

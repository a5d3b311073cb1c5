"""What the live feed (`/ws`) reads: a key's stored subscriptions and which instruments exist.

The `subscriptions` table is written through `core.storage.subscriptions`; here it is only
read, in the order the socket lists them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from core.storage.db import Db


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A stored subscription as the feed matches it (an empty set meaning all)."""

    instruments: frozenset[str]
    events: frozenset[str]


async def key_rules(db: Db, key_id: uuid.UUID, limit: int) -> list[StoredRule]:
    """The first `limit` subscriptions of `key_id`, oldest first."""
    rows = await db.fetch(
        "SELECT instruments, events FROM subscriptions WHERE key_id = $1 "
        "ORDER BY created_at, id LIMIT $2",
        key_id, limit,
    )  # fmt: skip
    return [StoredRule(frozenset(r["instruments"]), frozenset(r["events"])) for r in rows]


async def existing_instruments(db: Db, ids: list[str]) -> set[str]:
    """Those of `ids` that are instruments (on the watchlist)."""
    rows = await db.fetch("SELECT id FROM instruments WHERE id = ANY($1)", ids)
    return {r["id"] for r in rows}

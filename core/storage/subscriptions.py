"""`subscriptions`: which instruments and events an API key wants live.

A subscription belongs to one key; instruments and events are stored sorted and without
repeats (the caller normalises them), so the same subscription is stored once per key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from core.storage.db import Db


@dataclass(frozen=True, slots=True)
class Subscription:
    """A stored subscription (empty `instruments` or `events`: all of them)."""

    id: uuid.UUID
    key_id: uuid.UUID
    instruments: list[str]
    events: list[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Subscribed:
    """What `subscribe` did: stored a new subscription (`created`), found the same one
    (`subscription` set, `created` False), or stored nothing because instruments are
    `unknown` or the key already `held` its limit."""

    subscription: Subscription | None = None
    created: bool = False
    unknown: list[str] = field(default_factory=list)
    held: int | None = None


_COLUMNS = "id, key_id, instruments, events, created_at"


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(
        id=row["id"],
        key_id=row["key_id"],
        instruments=list(row["instruments"]),
        events=list(row["events"]),
        created_at=row["created_at"],
    )


async def subscribe(
    db: Db, key_id: uuid.UUID, instruments: list[str], events: list[str], limit: int
) -> Subscribed:
    """Store a subscription of `key_id` in one transaction, unless one with the same
    instruments and events exists, an instrument is not in `instruments`' table, or the key
    holds `limit` subscriptions already. The key's row is locked, so concurrent requests of
    one key count each other."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await subscribe(conn, key_id, instruments, events, limit)
    conn = db
    async with conn.transaction():
        known = await conn.fetch("SELECT id FROM instruments WHERE id = ANY($1)", instruments)
        missing = sorted(set(instruments) - {r["id"] for r in known})
        if missing:
            return Subscribed(unknown=missing)
        await conn.execute("SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE", key_id)
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE key_id = $1 AND instruments = $2 "
            "AND events = $3",
            key_id, instruments, events,
        )  # fmt: skip
        if row is not None:  # a retry, or the same subscription made before
            return Subscribed(_subscription(row))
        held = await conn.fetchval("SELECT count(*) FROM subscriptions WHERE key_id = $1", key_id)
        if held >= limit:
            return Subscribed(held=held)
        row = await conn.fetchrow(
            "INSERT INTO subscriptions (key_id, instruments, events) VALUES ($1, $2, $3) "
            f"RETURNING {_COLUMNS}",
            key_id, instruments, events,
        )  # fmt: skip
    return Subscribed(_subscription(row), created=True)


async def of_key(db: Db, key_id: uuid.UUID, limit: int | None = None) -> list[Subscription]:
    """The key's subscriptions, oldest first (the first `limit` when given)."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE key_id = $1 ORDER BY created_at, id "
        "LIMIT $2",
        key_id, limit,
    )  # fmt: skip
    return [_subscription(r) for r in rows]


async def get(db: Db, subscription_id: uuid.UUID, key_id: uuid.UUID) -> Subscription | None:
    """One subscription of the key, or None (another key's counts as missing)."""
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE id = $1 AND key_id = $2",
        subscription_id, key_id,
    )  # fmt: skip
    return None if row is None else _subscription(row)


async def delete(db: Db, subscription_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    """Remove one subscription of the key; False when it has none with this id."""
    deleted = await db.fetchval(
        "DELETE FROM subscriptions WHERE id = $1 AND key_id = $2 RETURNING id",
        subscription_id, key_id,
    )  # fmt: skip
    return deleted is not None

"""Subscriptions and WebSocket tickets in a real Postgres: typed rows, one key's own."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg

from core.storage import api_keys, ws_tickets
from core.storage import subscriptions as subs


async def _key(conn: asyncpg.Connection, name: str = "k") -> uuid.UUID:
    info, _ = await api_keys.create_key(conn, name, "read")
    return info.id


async def test_subscribe_stores_once_and_answers_the_same_again(conn: asyncpg.Connection) -> None:
    key = await _key(conn)
    first = await subs.subscribe(conn, key, ["AAPL", "MSFT"], ["bar"], limit=5)
    assert first.created and first.subscription is not None
    stored = first.subscription
    assert (stored.key_id, stored.instruments, stored.events) == (key, ["AAPL", "MSFT"], ["bar"])
    again = await subs.subscribe(conn, key, ["AAPL", "MSFT"], ["bar"], limit=5)
    assert not again.created and again.subscription == stored
    assert await subs.of_key(conn, key) == [stored]


async def test_subscribe_refuses_unknown_instruments_and_a_full_key(
    conn: asyncpg.Connection,
) -> None:
    key = await _key(conn)
    unknown = await subs.subscribe(conn, key, ["AAPL", "TSLA", "ZZZ"], [], limit=5)
    assert unknown.subscription is None and unknown.unknown == ["TSLA", "ZZZ"]
    await subs.subscribe(conn, key, ["AAPL"], [], limit=2)
    await subs.subscribe(conn, key, ["MSFT"], [], limit=2)
    full = await subs.subscribe(conn, key, ["005930.KS"], [], limit=2)
    assert full.subscription is None and full.held == 2
    assert [s.instruments for s in await subs.of_key(conn, key)] == [["AAPL"], ["MSFT"]]
    assert [s.instruments for s in await subs.of_key(conn, key, limit=1)] == [["AAPL"]]


async def test_another_keys_subscription_is_neither_read_nor_deleted(
    conn: asyncpg.Connection,
) -> None:
    owner, other = await _key(conn, "owner"), await _key(conn, "other")
    made = (await subs.subscribe(conn, owner, ["AAPL"], ["article"], limit=5)).subscription
    assert made is not None
    assert await subs.get(conn, made.id, other) is None
    assert await subs.delete(conn, made.id, other) is False
    assert await subs.get(conn, made.id, owner) == made
    assert await subs.delete(conn, made.id, owner) is True
    assert await subs.get(conn, made.id, owner) is None
    assert await subs.delete(conn, made.id, owner) is False


async def test_a_ticket_opens_once_and_only_for_an_unrevoked_key(
    conn: asyncpg.Connection,
) -> None:
    key = await _key(conn)
    digest = hashlib.sha256(b"wst_one").digest()
    await ws_tickets.issue(conn, digest, key, 30)
    redeemed = await ws_tickets.redeem(conn, digest)
    assert redeemed is not None and redeemed.id == key and redeemed.scope == "read"
    assert await ws_tickets.redeem(conn, digest) is None  # spent
    expired = hashlib.sha256(b"wst_old").digest()
    await ws_tickets.issue(conn, expired, key, -1)
    assert await ws_tickets.redeem(conn, expired) is None
    revoked = hashlib.sha256(b"wst_revoked").digest()
    await ws_tickets.issue(conn, revoked, key, 30)
    assert await api_keys.unrevoked(conn, [key, uuid.uuid4()]) == {key}
    await api_keys.revoke_key(conn, str(key))
    assert await ws_tickets.redeem(conn, revoked) is None
    assert await api_keys.unrevoked(conn, [key]) == set()


async def test_issuing_sweeps_expired_tickets(conn: asyncpg.Connection) -> None:
    key = await _key(conn)
    await ws_tickets.issue(conn, b"old", key, -1)
    await ws_tickets.issue(conn, b"new", key, 30)
    assert await conn.fetchval("SELECT count(*) FROM ws_tickets") == 1

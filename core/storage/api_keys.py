"""API keys: `sr_<prefix>_<secret>`, stored as a salted HMAC-SHA256, shown once.

Why a fast hash is enough: the secrets are 256-bit random (`secrets.token_urlsafe(32)`),
not chosen by people, so there is no dictionary to try and a stolen hash cannot be brute-
forced at any hash speed (2^256 guesses). A slow hash (scrypt, bcrypt) only protects
low-entropy passwords, and costs ~50 ms of CPU per verification, which an attacker can
make a replica spend at will. Keys created before this change carry `scrypt$…` hashes:
they are checked once more with scrypt, off the event loop, and rewritten as HMAC.

Verified keys are cached in-process for `CACHE_TTL_S` seconds (keyed by sha256 of the
presented key), so a key revoked elsewhere keeps working on a replica for at most that long.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

SCOPES = ("read", "write", "admin")  # in increasing order of power
CACHE_TTL_S = 30.0  # a revoked key stops working on every replica within this many seconds
CACHE_MAX_ENTRIES = 10_000
LAST_USED_RESOLUTION = "1 minute"  # last_used_at is written at most this often per key

_HMAC = "hmac-sha256"
_PREFIX_BYTES, _SECRET_BYTES = 6, 32  # token_urlsafe: 6 bytes -> 8 chars, 32 bytes -> 43 chars
_KEY = re.compile(r"^sr_([A-Za-z0-9_-]{8})_([A-Za-z0-9_-]{43})$")

# sha256(presented key) -> (monotonic time cached, KeyInfo)
_cache: dict[str, tuple[float, KeyInfo]] = {}


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An API key as listed: everything but the hash and the secret."""

    id: uuid.UUID
    name: str
    prefix: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    chat_micro_per_day: int | None = None  # its own daily chat quota; None: the default

    def allows(self, needed: str) -> bool:
        """True when this key's scope is at least `needed` (read < write < admin)."""
        return SCOPES.index(self.scope) >= SCOPES.index(needed)


_COLUMNS = "id, name, prefix, scope, created_at, last_used_at, revoked_at, chat_micro_per_day"


def _info(row: asyncpg.Record) -> KeyInfo:
    return KeyInfo(**{k: row[k] for k in _COLUMNS.split(", ")})


def hash_secret(secret: str) -> str:
    """`hmac-sha256$salt$digest` (hex) for `secret`, with a fresh random 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hmac.new(salt, secret.encode(), hashlib.sha256).hexdigest()
    return f"{_HMAC}${salt.hex()}${digest}"


def needs_rehash(stored: str) -> bool:
    """True for a hash in an older, slow scheme (scrypt)."""
    return not stored.startswith(f"{_HMAC}$")


def check_secret(secret: str, stored: str) -> bool:
    """True when `secret` matches a stored hash (constant-time compare). HMAC hashes cost a
    microsecond; a legacy scrypt hash ~50 ms (call it off the event loop)."""
    try:
        scheme, *fields = stored.split("$")
        if scheme == _HMAC:
            salt, digest = fields
            actual = hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).digest()
            return hmac.compare_digest(actual, bytes.fromhex(digest))
        if scheme != "scrypt":
            return False
        n, r, p, salt, digest = fields
        expected = bytes.fromhex(digest)
        actual = hashlib.scrypt(
            secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
            dklen=len(expected),
        )  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def key_prefix(presented: str) -> str:
    """The prefix part of a presented key ("" when it is not shaped like one)."""
    match = _KEY.match(presented)
    return match.group(1) if match else ""


def is_cached(presented: str) -> bool:
    """Whether `presented` was verified in this process within the cache's TTL."""
    cached = _cache.get(hashlib.sha256(presented.encode()).hexdigest())
    return cached is not None and time.monotonic() - cached[0] < CACHE_TTL_S


def cached_verification(presented: str) -> KeyInfo | None:
    """The key's info if `presented` was verified in this process within the cache's TTL
    (no database call: the API's hot path); else None, and `verify_key` decides."""
    cached = _cache.get(hashlib.sha256(presented.encode()).hexdigest())
    if cached is None or time.monotonic() - cached[0] >= CACHE_TTL_S:
        return None
    return cached[1]


def clear_cache() -> None:
    """Forget every cached verification in this process."""
    _cache.clear()


async def create_key(
    conn: asyncpg.Connection, name: str, scope: str, chat_usd_per_day: float | None = None
) -> tuple[KeyInfo, str]:
    """Store a new key (with its own daily chat quota, or None for the default); return it
    and its plaintext, which is never available again."""
    quota = _micro(chat_usd_per_day)
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    if not name.strip():
        raise ValueError("a key needs a non-empty name")
    for _ in range(5):  # 48-bit prefixes: a collision is rare, but the column is unique
        prefix = secrets.token_urlsafe(_PREFIX_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        try:
            row = await conn.fetchrow(
                f"""INSERT INTO api_keys (name, prefix, hash, scope, chat_micro_per_day)
                    VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}""",
                name,
                prefix,
                hash_secret(secret),
                scope,
                quota,
            )
        except asyncpg.UniqueViolationError:
            continue
        return _info(row), f"sr_{prefix}_{secret}"
    raise RuntimeError("could not allocate a unique key prefix")


async def verify_key(conn: asyncpg.Connection, presented: str) -> KeyInfo | None:
    """The key's info if `presented` is a valid, unrevoked key; otherwise None."""
    match = _KEY.match(presented)
    if match is None:
        return None
    fingerprint = hashlib.sha256(presented.encode()).hexdigest()
    cached = _cache.get(fingerprint)
    if cached is not None:
        if time.monotonic() - cached[0] < CACHE_TTL_S:
            return cached[1]
        _cache.pop(fingerprint, None)
    prefix, secret = match.groups()
    row = await conn.fetchrow(f"SELECT {_COLUMNS}, hash FROM api_keys WHERE prefix = $1", prefix)
    if row is None or row["revoked_at"] is not None:
        return None
    if needs_rehash(row["hash"]):  # a legacy scrypt hash: verify in a thread, then upgrade
        if not await asyncio.to_thread(check_secret, secret, row["hash"]):
            return None
        await conn.execute(
            "UPDATE api_keys SET hash = $2 WHERE id = $1", row["id"], hash_secret(secret)
        )
    elif not check_secret(secret, row["hash"]):
        return None
    info = _info(row)
    used = await conn.fetchval(
        f"""UPDATE api_keys SET last_used_at = now()
            WHERE id = $1 AND (last_used_at IS NULL
                               OR last_used_at < now() - interval '{LAST_USED_RESOLUTION}')
            RETURNING last_used_at""",
        info.id,
    )
    if used is not None:
        info = replace(info, last_used_at=used)
    if len(_cache) >= CACHE_MAX_ENTRIES:
        _cache.clear()
    _cache[fingerprint] = (time.monotonic(), info)
    return info


async def list_keys(conn: asyncpg.Connection) -> list[KeyInfo]:
    """Every key, oldest first (revoked ones included), without hashes."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, prefix")
    return [_info(r) for r in rows]


def _micro(usd: float | None) -> int | None:
    if usd is None:
        return None
    if not usd >= 0:  # NaN too
        raise ValueError(f"a chat quota is a non-negative USD amount; got {usd!r}")
    return round(usd * 1_000_000)


async def set_chat_quota(
    conn: asyncpg.Connection, prefix_or_id: str, usd_per_day: float | None
) -> KeyInfo | None:
    """Give a key (by prefix or id) its own daily chat quota, or None to return it to the
    default; None if no such key. Its next chat call reserves under the new limit."""
    micro = _micro(usd_per_day)
    row = await conn.fetchrow(
        f"""UPDATE api_keys SET chat_micro_per_day = $3
            WHERE prefix = $1 OR id = $2 RETURNING {_COLUMNS}""",
        prefix_or_id, _uuid_or_none(prefix_or_id), micro,
    )  # fmt: skip
    return None if row is None else _info(row)


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


async def revoke_key(conn: asyncpg.Connection, prefix_or_id: str) -> bool:
    """Revoke a key by prefix or id; False if no such key (revoking twice keeps the first time)."""
    key_id = _uuid_or_none(prefix_or_id)
    revoked = await conn.fetchval(
        """UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
           WHERE prefix = $1 OR id = $2 RETURNING id""",
        prefix_or_id,
        key_id,
    )
    if revoked is None:
        return False
    for fingerprint, (_, info) in list(_cache.items()):  # this process at once; others by TTL
        if info.id == revoked:
            _cache.pop(fingerprint, None)
    return True


async def unrevoked(
    db: asyncpg.Connection | asyncpg.Pool, key_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of `key_ids` are still unrevoked, read from the database (no cache)."""
    rows = await db.fetch(
        "SELECT id FROM api_keys WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL",
        list(key_ids),
    )
    return {r["id"] for r in rows}

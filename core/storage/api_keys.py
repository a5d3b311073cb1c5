"""API keys: `sr_<prefix>_<secret>`, stored as a salted scrypt hash, shown once.

Verified keys are cached in-process for `CACHE_TTL_S` seconds (keyed by sha256 of the
presented key), so a key revoked elsewhere keeps working on a replica for at most that long.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

SCOPES = ("read", "write", "admin")  # in increasing order of power
CACHE_TTL_S = 30.0  # a revoked key stops working on every replica within this many seconds
CACHE_MAX_ENTRIES = 10_000
LAST_USED_RESOLUTION = "1 minute"  # last_used_at is written at most this often per key

# scrypt: stdlib, so no new dependency. The secrets are 256-bit random, so a fast hash would
# be acceptable too (no dictionary to attack); scrypt costs ~50 ms per cache miss, i.e. nothing.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_DKLEN = 2**14, 8, 1, 32
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

    def allows(self, needed: str) -> bool:
        """True when this key's scope is at least `needed` (read < write < admin)."""
        return SCOPES.index(self.scope) >= SCOPES.index(needed)


_COLUMNS = "id, name, prefix, scope, created_at, last_used_at, revoked_at"


def _info(row: asyncpg.Record) -> KeyInfo:
    return KeyInfo(**{k: row[k] for k in _COLUMNS.split(", ")})


def hash_secret(secret: str) -> str:
    """`scrypt$n$r$p$salt$hash` (salt and hash hex) for `secret`, with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=_SCRYPT_DKLEN
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_secret(secret: str, stored: str) -> bool:
    """True when `secret` matches a `hash_secret` string (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        actual = hashlib.scrypt(
            secret.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def clear_cache() -> None:
    """Forget every cached verification in this process."""
    _cache.clear()


async def create_key(conn: asyncpg.Connection, name: str, scope: str) -> tuple[KeyInfo, str]:
    """Store a new key; return it and its plaintext, which is never available again."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    if not name.strip():
        raise ValueError("a key needs a non-empty name")
    for _ in range(5):  # 48-bit prefixes: a collision is rare, but the column is unique
        prefix = secrets.token_urlsafe(_PREFIX_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        try:
            row = await conn.fetchrow(
                f"""INSERT INTO api_keys (name, prefix, hash, scope) VALUES ($1, $2, $3, $4)
                    RETURNING {_COLUMNS}""",
                name,
                prefix,
                hash_secret(secret),
                scope,
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
    if row is None or row["revoked_at"] is not None or not check_secret(secret, row["hash"]):
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


async def revoke_key(conn: asyncpg.Connection, prefix_or_id: str) -> bool:
    """Revoke a key by prefix or id; False if no such key (revoking twice keeps the first time)."""
    try:
        key_id: uuid.UUID | None = uuid.UUID(prefix_or_id)
    except ValueError:
        key_id = None
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

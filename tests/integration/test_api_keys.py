"""API keys against a real Postgres: hashing, verification, revocation, the CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from core.storage import api_keys
from core.storage.api_keys import KeyInfo, create_key, list_keys, revoke_key, verify_key

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _empty_cache():
    api_keys.clear_cache()
    yield
    api_keys.clear_cache()


async def test_create_then_verify_returns_the_key_with_its_scope(migrated_pool) -> None:
    async with migrated_pool.acquire() as conn:
        info, plaintext = await create_key(conn, "dashboard", "write")
        assert plaintext.startswith(f"sr_{info.prefix}_") and len(info.prefix) == 8
        assert len(plaintext) == len("sr_") + 8 + 1 + 43
        verified = await verify_key(conn, plaintext)
        assert verified is not None and verified.id == info.id and verified.scope == "write"
        assert verified.last_used_at is not None and info.last_used_at is None
        assert verified.allows("read") and verified.allows("write")
        assert not verified.allows("admin")
        assert await verify_key(conn, plaintext) == verified  # cached: same answer


async def test_bad_keys_verify_to_none(migrated_pool) -> None:
    async with migrated_pool.acquire() as conn:
        info, plaintext = await create_key(conn, "bot", "read")
        wrong_secret = f"sr_{info.prefix}_" + "A" * 43
        unknown_prefix = "sr_zzzzzzzz_" + plaintext.split("_", 2)[2][-43:]
        for bad in (wrong_secret, unknown_prefix, "", "sr_", plaintext[:-1], plaintext + "x",
                    "Bearer " + plaintext, plaintext.replace("sr_", "xx_", 1)):  # fmt: skip
            assert await verify_key(conn, bad) is None, bad
        assert await verify_key(conn, plaintext) is not None


async def test_stored_hash_is_a_salted_hmac_and_not_the_key(migrated_pool) -> None:
    async with migrated_pool.acquire() as conn:
        info, plaintext = await create_key(conn, "ops", "admin")
        stored = await conn.fetchval("SELECT hash FROM api_keys WHERE id = $1", info.id)
    secret = plaintext.split("_", 2)[2][-43:]
    assert secret not in stored and plaintext not in stored
    scheme, salt, digest = stored.split("$")
    assert scheme == "hmac-sha256"
    assert len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(digest)) == 32
    assert api_keys.check_secret(secret, stored) and not api_keys.check_secret("x", stored)
    assert api_keys.hash_secret(secret) != stored  # a fresh salt per hash


async def test_a_legacy_scrypt_hash_verifies_once_and_is_rewritten(migrated_pool) -> None:
    salt = bytes(range(16))
    async with migrated_pool.acquire() as conn:
        info, plaintext = await create_key(conn, "old", "read")
        secret = plaintext.split("_", 2)[2][-43:]
        digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
        legacy = f"scrypt${2**14}$8$1${salt.hex()}${digest.hex()}"
        await conn.execute("UPDATE api_keys SET hash = $2 WHERE id = $1", info.id, legacy)
        assert await verify_key(conn, f"sr_{info.prefix}_" + "B" * 43) is None
        assert await conn.fetchval("SELECT hash FROM api_keys WHERE id = $1", info.id) == legacy
        assert (await verify_key(conn, plaintext)).id == info.id
        upgraded = await conn.fetchval("SELECT hash FROM api_keys WHERE id = $1", info.id)
        assert upgraded.startswith("hmac-sha256$") and api_keys.check_secret(secret, upgraded)
        api_keys.clear_cache()
        assert (await verify_key(conn, plaintext)).id == info.id


async def test_list_never_exposes_hashes_or_secrets(migrated_pool) -> None:
    async with migrated_pool.acquire() as conn:
        made = [await create_key(conn, f"k{i}", scope) for i, scope in enumerate(api_keys.SCOPES)]
        listed = await list_keys(conn)
        hashes = [r["hash"] for r in await conn.fetch("SELECT hash FROM api_keys")]
    assert [k.prefix for k in listed] == [info.prefix for info, _ in made]
    assert not hasattr(listed[0], "hash")
    text = repr(listed)
    for (_, plaintext), stored in zip(made, hashes, strict=True):
        assert plaintext[12:] not in text and stored not in text


async def test_revoke_stops_the_key_within_the_cache_ttl(migrated_pool, monkeypatch) -> None:
    async with migrated_pool.acquire() as conn:
        info, plaintext = await create_key(conn, "replica", "read")
        assert await verify_key(conn, plaintext) is not None
        # Another process revokes: this one's cache still answers until the TTL passes.
        await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", info.id)
        assert await verify_key(conn, plaintext) is not None
        monkeypatch.setattr(api_keys, "CACHE_TTL_S", 0.0)
        assert await verify_key(conn, plaintext) is None


async def test_revoke_by_prefix_or_id_and_unknown(migrated_pool) -> None:
    async with migrated_pool.acquire() as conn:
        first, key1 = await create_key(conn, "a", "read")
        second, key2 = await create_key(conn, "b", "write")
        assert await verify_key(conn, key1) is not None and await verify_key(conn, key2)
        assert await revoke_key(conn, first.prefix)
        assert await revoke_key(conn, str(second.id))
        # Revoking in this process drops its cache entries at once.
        assert await verify_key(conn, key1) is None and await verify_key(conn, key2) is None
        assert not await revoke_key(conn, "nosuchpx")
        assert not await revoke_key(conn, "00000000-0000-0000-0000-000000000000")
        revoked_at = (await list_keys(conn))[0].revoked_at
        assert revoked_at is not None and await revoke_key(conn, first.prefix)
        assert (await list_keys(conn))[0].revoked_at == revoked_at  # the first time is kept


async def test_last_used_is_written_at_most_once_a_minute(migrated_pool, monkeypatch) -> None:
    monkeypatch.setattr(api_keys, "CACHE_TTL_S", 0.0)
    async with migrated_pool.acquire() as conn:
        info, plaintext = await create_key(conn, "busy", "read")
        first = (await verify_key(conn, plaintext)).last_used_at
        assert (await verify_key(conn, plaintext)).last_used_at == first
        stored = await conn.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", info.id)
        assert stored == first


async def test_scopes_and_validation(migrated_pool) -> None:
    def key(scope: str) -> KeyInfo:
        return KeyInfo(None, "n", "p", scope, None, None, None)  # type: ignore[arg-type]

    assert key("admin").allows("read") and key("admin").allows("write")
    assert key("write").allows("read") and not key("read").allows("write")
    async with migrated_pool.acquire() as conn:
        with pytest.raises(ValueError):
            await create_key(conn, "x", "root")
        with pytest.raises(ValueError):
            await create_key(conn, "  ", "read")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO api_keys (name, prefix, hash, scope) VALUES ('x', 'y', 'z', 'root')"
            )


def _cli(dsn: str | None, *args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKRAY_")}
    if home:
        env["STOCKRAY_HOME"] = str(home)
    if dsn:
        env["STOCKRAY_DATABASE_URL"] = dsn
    return subprocess.run(
        [sys.executable, "-m", "cluster.cli", "keys", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_cli_create_list_revoke(fresh_dsn, migrated_pool, tmp_path) -> None:
    made = _cli(fresh_dsn, "create", "--name", "grafana", "--scope", "read")
    assert made.returncode == 0, made.stderr
    plaintext = made.stdout.strip()
    assert made.stdout.count("sr_") == 1 and plaintext.startswith("sr_")
    assert "cannot be shown again" in made.stderr and plaintext not in made.stderr
    prefix = plaintext[3:11]
    async with migrated_pool.acquire() as conn:
        assert (await verify_key(conn, plaintext)).name == "grafana"

    listed = _cli(fresh_dsn, "list")
    assert listed.returncode == 0, listed.stderr
    assert prefix in listed.stdout and "grafana" in listed.stdout and "read" in listed.stdout
    assert plaintext[12:] not in listed.stdout and "scrypt" not in listed.stdout

    revoked = _cli(fresh_dsn, "revoke", prefix)
    assert revoked.returncode == 0, revoked.stderr
    api_keys.clear_cache()
    async with migrated_pool.acquire() as conn:
        assert await verify_key(conn, plaintext) is None
    assert "UTC" in _cli(fresh_dsn, "list").stdout.splitlines()[1].split("read", 1)[1]

    unknown = _cli(fresh_dsn, "revoke", "nosuchpx")
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert "nosuchpx" in unknown.stderr

    bad_scope = _cli(fresh_dsn, "create", "--name", "x", "--scope", "root")
    assert bad_scope.returncode == 2 and "invalid choice" in bad_scope.stderr

    no_db = _cli(None, "list", home=tmp_path)  # no URL and no running stack (empty home)
    assert no_db.returncode == 1 and no_db.stderr.startswith("stockray keys: no database")
    assert no_db.stderr.count("\n") == 1

"""`stockray keys create --chat-usd-per-day` and `keys set-quota` on a real database."""

from __future__ import annotations

import asyncio

import pytest

from cluster.cli import main
from core.storage.api_keys import key_prefix
from core.storage.db import connect
from core.storage.migrations import migrate


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))  # the CLI runs its own event loop
    out, err = capsys.readouterr()
    return code, out, err


async def _quota_column(dsn: str, prefix: str) -> int | None:
    conn = await connect(dsn)
    try:
        return await conn.fetchval(
            "SELECT chat_micro_per_day FROM api_keys WHERE prefix = $1", prefix
        )
    finally:
        await conn.close()


async def test_keys_create_and_set_quota(
    fresh_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = await connect(fresh_dsn)
    await migrate(conn)
    await conn.close()
    monkeypatch.setenv("STOCKRAY_DATABASE_URL", fresh_dsn)
    code, out, err = await _cli(
        capsys, "keys", "create", "--name", "bot", "--scope", "write", "--chat-usd-per-day", "0.25"
    )
    prefix = key_prefix(out.strip())
    assert code == 0 and prefix and "chat quota 0.25" in err
    assert await _quota_column(fresh_dsn, prefix) == 250_000
    code, out, _ = await _cli(capsys, "keys", "set-quota", prefix, "--chat-usd-per-day", "1.5")
    assert code == 0 and "$1.5 per UTC day" in out
    assert await _quota_column(fresh_dsn, prefix) == 1_500_000
    code, out, _ = await _cli(capsys, "keys", "list")
    assert "CHAT USD/DAY" in out and any(
        line.startswith(prefix) and " 1.5 " in line for line in out.splitlines()
    )
    code, out, _ = await _cli(capsys, "keys", "set-quota", prefix, "--default")
    assert code == 0 and "default" in out
    assert await _quota_column(fresh_dsn, prefix) is None
    code, _, err = await _cli(capsys, "keys", "set-quota", "nosuchkey", "--chat-usd-per-day", "1")
    assert code == 1 and "no API key" in err
    with pytest.raises(SystemExit):  # argparse refuses a negative amount before any SQL
        await _cli(capsys, "keys", "set-quota", prefix, "--chat-usd-per-day", "-1")

"""Point-in-time recovery's Ray-free parts: the archive command run by a real shell, the
server settings it writes, choosing and pruning base backups, `--to-time` parsing and the
STOCKRAY_WAL_ARCHIVE setting."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cluster.backup.errors import BackupError
from cluster.backup.pitr import parse_target
from configs.settings import ConfigError, load_env
from core.pitr import archive, basebackups

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _archive(tmp_path: Path, name: str, data: bytes, archive_name: str = "archive") -> int:
    """Run the archive command as Postgres does (`sh -c` in the data dir)."""
    pgdata, wal_dir = tmp_path / "pg", tmp_path / archive_name
    (pgdata / "pg_wal").mkdir(parents=True, exist_ok=True)
    wal_dir.mkdir(exist_ok=True)
    (pgdata / "pg_wal" / name).write_bytes(data)
    command = archive.archive_command(wal_dir)
    command = command.replace("%p", f"pg_wal/{name}").replace("%f", name)
    return subprocess.run(["sh", "-c", command], cwd=pgdata).returncode


def test_the_archive_command_copies_once_and_never_replaces_a_different_file(
    tmp_path: Path,
) -> None:
    name = "000000010000000000000003"
    assert _archive(tmp_path, name, b"segment") == 0
    assert (tmp_path / "archive" / name).read_bytes() == b"segment"
    assert _archive(tmp_path, name, b"segment") == 0  # a retry after a crash: same bytes
    assert _archive(tmp_path, name, b"other") != 0  # never overwritten
    assert (tmp_path / "archive" / name).read_bytes() == b"segment"
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == [name]  # no temp left


def test_a_path_with_spaces_and_quotes_is_quoted(tmp_path: Path) -> None:
    odd = tmp_path / "it's a $dir"
    assert _archive(tmp_path, "000000010000000000000001", b"x", odd.name) == 0
    assert (odd / "000000010000000000000001").read_bytes() == b"x"
    conf = archive.server_conf(odd, 60)
    assert "archive_mode = on" in conf and "archive_timeout = 60" in conf
    (line,) = [ln for ln in conf.splitlines() if ln.startswith("archive_command = ")]
    value = line.removeprefix("archive_command = ")[1:-1].replace("''", "'")
    assert value == archive.archive_command(odd)  # postgresql.conf's quoting undone
    assert "recovery_target_time" not in conf
    target = archive.RecoveryTarget(NOW, odd)
    assert "recovery_target_time = '2026-12-01 12:00:00+00:00'" in archive.server_conf(
        odd, 0, target
    )


def test_install_conf_includes_it_once(tmp_path: Path) -> None:
    (tmp_path / "postgresql.conf").write_text("max_connections = 100\n")
    for _ in range(2):
        archive.install_conf(tmp_path, archive.server_conf(tmp_path / "a", 60))
    assert (tmp_path / "postgresql.conf").read_text().count(archive.INCLUDE) == 1
    assert (tmp_path / archive.CONF).read_text().startswith("# Written by stockray")


def _backup(days_ago: float, name: str) -> basebackups.BaseBackup:
    at = NOW - timedelta(days=days_ago)
    return basebackups.BaseBackup(
        path=Path(name), started_at=at, finished_at=at, bytes=1, start_wal="0" * 24,
        timeline=1, system_id="1", server_major=16,
    )  # fmt: skip


def test_the_newest_backup_finished_by_the_target_is_chosen() -> None:
    found = [_backup(1, "new"), _backup(5, "mid"), _backup(9, "old")]  # newest first
    assert basebackups.before(found, NOW - timedelta(days=3)).path == Path("mid")
    assert basebackups.before(found, NOW).path == Path("new")
    assert basebackups.before(found, NOW - timedelta(days=10)) is None


def test_retention_never_takes_the_newest() -> None:
    found = [_backup(100, "a"), _backup(200, "b")]
    assert [b.path for b in basebackups.past_retention(found, NOW, 90)] == [Path("b")]
    found = [_backup(1, "a"), _backup(89, "b"), _backup(91, "c")]
    assert [b.path for b in basebackups.past_retention(found, NOW, 90)] == [Path("c")]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("yesterday", "is not a time"),
        ("2026-12-01 09:30:00", "no UTC offset"),
        ("2026-12-01 12:00:01+00", "in the future"),
    ],
)
def test_bad_targets_are_usage_errors(text: str, why: str) -> None:
    with pytest.raises(BackupError, match=why) as caught:
        parse_target(text, NOW)
    assert caught.value.exit_code == 2


def test_a_target_with_an_offset_is_an_instant() -> None:
    assert parse_target("2026-12-01 18:30:00+09", NOW) == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_the_wal_archive_setting(tmp_path: Path) -> None:
    assert load_env(home=tmp_path).wal_archive_dir == tmp_path / "wal_archive"
    assert load_env(wal_archive=f"file://{tmp_path}/w").wal_archive_dir == tmp_path / "w"
    with pytest.raises(ConfigError, match="STOCKRAY_WAL_ARCHIVE"):
        load_env(wal_archive="s3://bucket/wal")

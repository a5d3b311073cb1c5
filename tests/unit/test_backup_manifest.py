"""The backup manifest as a model: old `manifest.json` files read and write back unchanged,
verification names the first bad file, and a restore's report lines compare facts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cluster.backup import BackupError, Manifest, compare_facts, verify_backup
from cluster.backup.manifest import read_manifest
from core.storage.catalog import DatabaseFacts, TableFacts


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DUMP_BYTES = b"PGDMP fake dump"
LAKE = {"bars/interval=1d/year=2024/AAPL.parquet": b"PAR1 bars", "news/x.parquet": b"PAR1 news"}
# As `stockray backup` wrote it before the manifest was a model (a dict through json.dumps).
OLD = {
    "format": "stockray-backup/1",
    "created_at": "2026-11-30T08:15:02+00:00",
    "stockray_version": "0.1.0",
    "authoritative": "postgres",
    "consistency": "postgres.dump and tables/sequences read one snapshot; the lake was "
    "copied after it and holds at least the rows the dump has",
    "postgres": {
        "embedded": True,
        "server_version": "16.4",
        "pg_dump_major": 16,
        "database": "postgres",
        "file": "postgres.dump",
        "bytes": len(DUMP_BYTES),
        "sha256": _sha(DUMP_BYTES),
    },
    "migrations": [
        {"version": 1, "name": "initial", "checksum": "ab" * 32},
        {"version": 2, "name": "collection", "checksum": "cd" * 32},
    ],
    "checksum_method": "md5 of the exact sums of the 64-bit halves of each md5(row::text), "
    "UTC text",
    "tables": {
        "bars": {"rows": 900, "checksum": "0f" * 16},
        "job_runs": {"rows": 0, "checksum": "cfcd208495d565ef66e7dff9f98764da"},
    },
    "sequences": {"llm_usage_id_seq": 40, "unused_seq": None},
    "lake": [{"path": p, "bytes": len(b), "sha256": _sha(b)} for p, b in LAKE.items()],
    "seconds": 1.234,
}


@pytest.fixture
def backup_dir(tmp_path: Path) -> Path:
    (tmp_path / "manifest.json").write_text(json.dumps(OLD, indent=1, default=str) + "\n")
    (tmp_path / "postgres.dump").write_bytes(DUMP_BYTES)
    for rel, data in LAKE.items():
        (tmp_path / "lake" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "lake" / rel).write_bytes(data)
    return tmp_path


def test_an_old_manifest_reads_into_the_model_and_writes_back_byte_for_byte(
    backup_dir: Path,
) -> None:
    text = (backup_dir / "manifest.json").read_text()
    manifest = read_manifest(backup_dir / "manifest.json")
    assert manifest.postgres.pg_dump_major == 16
    assert manifest.tables["bars"] == TableFacts(rows=900, checksum="0f" * 16)
    assert [m.version for m in manifest.migrations] == [1, 2]
    assert manifest.to_json() == text
    assert Manifest.model_validate_json(manifest.to_json()) == manifest


def test_verify_returns_the_manifest_of_an_intact_backup(backup_dir: Path) -> None:
    manifest = verify_backup(backup_dir)
    assert [p for p, _ in manifest.files()] == ["postgres.dump"] + [f"lake/{p}" for p in LAKE]


def test_verify_names_a_corrupt_file(backup_dir: Path) -> None:
    victim = backup_dir / "lake" / "news/x.parquet"
    victim.write_bytes(b"PAR1 newz")
    with pytest.raises(BackupError) as caught:
        verify_backup(backup_dir)
    assert str(caught.value) == f"{victim}: sha256 mismatch, the backup is corrupt"
    assert caught.value.exit_code == 1


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "stockray-backup/1", "lake": [',
        json.dumps({**OLD, "tables": []}),
        json.dumps({k: v for k, v in OLD.items() if k != "postgres"}),
        "[1, 2]",
    ],
)
def test_a_corrupt_manifest_is_one_line_of_error(backup_dir: Path, text: str) -> None:
    (backup_dir / "manifest.json").write_text(text)
    with pytest.raises(BackupError) as caught:
        verify_backup(backup_dir)
    assert "manifest.json: corrupt manifest (" in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


def test_a_manifest_of_another_format_is_refused(backup_dir: Path) -> None:
    (backup_dir / "manifest.json").write_text(json.dumps({**OLD, "format": "other/2"}))
    with pytest.raises(BackupError, match="format 'other/2', not stockray-backup/1"):
        verify_backup(backup_dir)


def test_a_manifest_path_leaving_the_backup_is_refused(backup_dir: Path) -> None:
    lake = [{"path": "../../etc/passwd", "bytes": 1, "sha256": "00"}]
    (backup_dir / "manifest.json").write_text(json.dumps({**OLD, "lake": lake}))
    with pytest.raises(BackupError, match="leaves the backup"):
        verify_backup(backup_dir)


def test_compare_facts_marks_each_mismatch_with_the_backups_value() -> None:
    expected = read_manifest_facts()
    found = DatabaseFacts(
        tables={
            "bars": TableFacts(rows=899, checksum="ff"),
            "extra": TableFacts(rows=1, checksum="e"),
        },
        sequences={"llm_usage_id_seq": 40},
        migrations=[],
    )
    lines = compare_facts(expected, found)
    assert lines[0] == (
        f"MISMATCH table bars                   rows      899  checksum ff  "
        f"(backup: {{'rows': 900, 'checksum': '{'0f' * 16}'}})"
    )
    assert lines[1].startswith("MISMATCH table extra ")
    assert (
        lines[2].startswith("MISMATCH table job_runs ")
        and "rows        -  checksum absent" in lines[2]
    )
    assert lines[3] == "ok       sequence llm_usage_id_seq    last_value 40 (backup: 40)"
    # a sequence never used reads as None whether listed or not, as before
    assert lines[4] == "ok       sequence unused_seq          last_value None (backup: None)"


def read_manifest_facts() -> DatabaseFacts:
    return Manifest.model_validate(OLD).facts

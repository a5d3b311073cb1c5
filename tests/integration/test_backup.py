"""`stockray backup` / `stockray restore` as an operator runs them: real Postgres, real lake."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cluster import postgres
from configs.settings import load_settings
from core.models import Article, Bar
from core.storage.catalog import database_facts
from core.storage.db import connect
from core.storage.lake import Lake
from core.storage.writers import write_articles, write_bars
from core.wait import poll
from tests.integration.test_stack import Stack

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]
INSTRUMENTS = ("AAPL", "MSFT", "005930.KS")


def _new_stack() -> Stack:
    return Stack(Path(tempfile.mkdtemp(prefix="srb", dir="/tmp")))  # short: unix socket paths


def _data(days: int = 300, articles: int = 60) -> tuple[list[Bar], list[Article]]:
    start = datetime(2023, 6, 1, 20, tzinfo=UTC)  # spans two lake years
    bars = [
        Bar(
            i,
            "1d",
            start + timedelta(days=d),
            100 + d * 0.1,
            101 + d * 0.1,
            99.5,
            100.3 + d / 7,
            1_000_000 + d,
            "yahoo",
        )
        for i in INSTRUMENTS
        for d in range(days)
    ]
    news = [
        Article(
            f"fp{n:04d}",
            f"https://news.example/{n}",
            f"헤드라인 {n}: résumé ✓",
            None if n % 3 else "s",
            start + timedelta(hours=7 * n),
            "newsapi",
            "ko" if n % 2 else "en",
            "wire",
            (INSTRUMENTS[n % 3],) if n % 4 else INSTRUMENTS[:2],
        )
        for n in range(articles)
    ]
    return bars, news


async def _seed_postgres(dsn: str, bars: list[Bar], news: list[Article]) -> None:
    conn = await connect(dsn)
    try:
        await write_bars(conn, bars)
        await write_articles(conn, news)
        await conn.execute(
            "INSERT INTO job_runs (kind, trace_id, params, status, counts) "
            "SELECT 'collect', 't' || g, jsonb_build_object('n', g, 'x', 0.1 + 0.2), "
            "'succeeded', '{\"saved\": 3}' FROM generate_series(1, 25) g"
        )
        await conn.execute(
            "INSERT INTO llm_usage (endpoint, model, tokens_in, tokens_out, cost_micro, purpose, "
            "status) SELECT 'sim', 'm', g, g * 2, g * 7, 'analyze', 'ok' "
            "FROM generate_series(1, 40) g"
        )
    finally:
        await conn.close()


async def _facts_and_counts(dsn: str) -> tuple[dict, dict[str, int]]:
    """The backup module's facts, and plain count(*) per table read independently."""
    conn = await connect(dsn)
    try:
        facts = (await database_facts(conn)).model_dump()  # compared with manifest.json's
        counts = {t: await conn.fetchval(f'SELECT count(*) FROM "{t}"') for t in facts["tables"]}
        return facts, counts
    finally:
        await conn.close()


def _facts_of(home: Path) -> tuple[dict, dict[str, int]]:
    """Start the embedded Postgres of `home`, read its facts, stop it."""
    settings = load_settings(home=home)
    state = postgres.start_embedded(settings)
    try:
        return asyncio.run(_facts_and_counts(state.uri or ""))
    finally:
        postgres.stop_embedded(postgres.pgdata_dir(settings))


def _lake_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@dataclass
class Source:
    """A seeded home, its facts and lake as they were, and its backup."""

    stack: Stack
    facts: dict
    counts: dict[str, int]
    lake: dict[str, bytes]
    backup: Path
    backup_s: float


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    stack = _new_stack()
    settings = load_settings(home=stack.home)
    state = postgres.start_embedded(settings)
    try:
        dsn = state.uri or ""
        postgres.prepare_database(dsn, settings)  # the stack's step: migrations + watchlist
        bars, news = _data()
        asyncio.run(_seed_postgres(dsn, bars, news))
        lake = Lake(stack.home / "lake")
        lake.write_bars(bars)
        lake.write_articles(news)
        facts, counts = asyncio.run(_facts_and_counts(dsn))
        began = time.monotonic()
        done = stack.run("backup")  # online: the embedded Postgres is running
        backup_s = time.monotonic() - began
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        postgres.stop_embedded(postgres.pgdata_dir(settings))
    (backup,) = (stack.home / "backups").iterdir()
    yield Source(stack, facts, counts, _lake_bytes(stack.home / "lake"), backup, backup_s)
    shutil.rmtree(stack.root, ignore_errors=True)


def test_backup_holds_a_manifest_without_secrets(source: Source) -> None:
    manifest = json.loads((source.backup / "manifest.json").read_text())
    assert manifest["authoritative"] == "postgres"
    assert manifest["tables"] == source.facts["tables"]
    assert manifest["tables"]["bars"]["rows"] == 3 * 300
    assert manifest["sequences"]["llm_usage_id_seq"] == 40
    assert [m["version"] for m in manifest["migrations"]] == list(
        range(1, len(manifest["migrations"]) + 1)
    )
    assert {e["path"] for e in manifest["lake"]} == set(source.lake)
    assert any(p.startswith("bars/interval=1d/year=2024/") for p in source.lake)
    assert "postgresql://" not in json.dumps(manifest)
    assert oct((source.backup).stat().st_mode & 0o777) == "0o700"


def test_backup_of_a_stopped_stack_leaves_it_stopped(source: Source) -> None:
    path = source.stack.root / "offline"
    done = source.stack.run("backup", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((path / "manifest.json").read_text())
    recorded = manifest["tables"].pop("backups")  # the first backup recorded its row
    assert recorded["rows"] == source.facts["tables"]["backups"]["rows"] + 1
    assert manifest["tables"] == {k: v for k, v in source.facts["tables"].items() if k != "backups"}
    assert not postgres.embedded_running(source.stack.home / "pg")
    assert not list(source.stack.root.glob(".*partial"))


def test_restore_into_a_fresh_home_is_exact(source: Source) -> None:
    target = _new_stack()
    try:
        began = time.monotonic()
        done = target.run("restore", str(source.backup))
        restore_s = time.monotonic() - began
        assert done.returncode == 0, done.stdout + done.stderr
        assert "MISMATCH" not in done.stdout
        assert "ok       table bars" in done.stdout
        facts, counts = _facts_of(target.home)
        assert counts == source.counts
        assert facts == source.facts
        assert _lake_bytes(target.home / "lake") == source.lake
        size = sum(p.stat().st_size for p in source.backup.rglob("*") if p.is_file())
        print(f"\nbackup {source.backup_s:.1f}s, restore {restore_s:.1f}s, {size / 1e6:.2f} MB")
    finally:
        shutil.rmtree(target.root, ignore_errors=True)


def test_corrupt_or_missing_backups_are_refused(source: Source) -> None:
    target = _new_stack()
    broken = target.root / "broken"
    shutil.copytree(source.backup, broken)
    try:
        victim = sorted((broken / "lake" / "bars").rglob("*.parquet"))[0]
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
        done = target.run("restore", str(broken))
        assert done.returncode == 1
        assert (
            done.stderr.strip()
            == f"stockray restore: {victim}: sha256 mismatch, the backup is corrupt"
        )
        assert not target.home.exists()  # verified before anything was touched

        (broken / "manifest.json").write_text('{"format": "stockray-backup/1", "lake": [')
        done = target.run("restore", str(broken))
        assert done.returncode == 1
        assert "manifest.json: corrupt manifest" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1

        done = target.run("restore", str(target.root / "nowhere"))
        assert done.returncode == 2
        assert "no such backup directory" in done.stderr
        done = target.run("backup", str(broken))
        assert done.returncode == 2
        assert "already exists and is not empty" in done.stderr
    finally:
        shutil.rmtree(target.root, ignore_errors=True)


def test_restore_interrupted_midway_can_be_rerun(source: Source) -> None:
    target = _new_stack()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cluster.cli", "restore", str(source.backup)],
            env=target.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        staging_pid = target.home / "pg.restore" / "postmaster.pid"
        poll(staging_pid.exists, timeout_s=60, interval_s=0.05)
        assert staging_pid.exists()
        os.kill(proc.pid, signal.SIGKILL)  # the staging Postgres is left running
        proc.wait(10)
        done = target.run("restore", str(source.backup))
        assert done.returncode == 0, done.stdout + done.stderr
        assert not (target.home / "pg.restore").exists()
        facts, _ = _facts_of(target.home)
        assert facts == source.facts
    finally:
        postgres.stop_embedded(target.home / "pg.restore")
        shutil.rmtree(target.root, ignore_errors=True)


def test_running_stack_needs_force(source: Source) -> None:
    target = _new_stack()
    try:
        up = target.run("up")
        assert up.returncode == 0, up.stdout + up.stderr
        asyncio.run(_seed_postgres(target.dsn(), [], []))  # data the restore must replace
        refused = target.run("restore", str(source.backup))
        assert refused.returncode == 2
        assert "the stack is running (postgres, ray" in refused.stderr
        assert "--force" in refused.stderr
        assert target.readyz() == 200  # untouched

        forced = target.run("restore", "--force", str(source.backup))
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert "previous data kept in" in forced.stdout
        assert target.processes() == []  # stopped, as documented
        assert list(target.home.glob("pg.pre-restore-*"))
        facts, _ = _facts_of(target.home)  # the restored data dir starts and is exact
        assert facts == source.facts
    finally:
        target.run("down")
        shutil.rmtree(target.root, ignore_errors=True)

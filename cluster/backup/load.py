"""Restoring a backup: refuse a running stack, load the dump in one transaction, verify the
loaded facts, then swap the lake (and, embedded, the data dir) into place."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cluster import postgres
from cluster.backup.errors import BackupError
from cluster.backup.files import stage_lake, swap
from cluster.backup.manifest import DUMP, Manifest
from cluster.backup.tools import client_tool, embedded_uri, last_line, libpq
from cluster.backup.verify import check_migrations, compare_facts, verify_backup
from cluster.state import StackState
from configs.settings import Settings
from core.storage import catalog
from core.storage.db import run_connected


@dataclass(frozen=True)
class Restored:
    """A restore's outcome: whether the loaded data matched, one line per table and
    sequence, and the previous data dirs kept aside."""

    verified: bool
    lines: list[str]
    kept: list[Path] = field(default_factory=list)


def running_components(settings: Settings) -> list[str]:
    """What of this stack runs: embedded postgres, ray, serve, sim, other database clients."""
    from cluster import ray_head, serve_deploy, sim_process

    state = StackState.load(settings.home)
    found = []
    if settings.database_url is not None:
        others = run_connected(settings.database_url.get_secret_value(), catalog.other_sessions)
        if others:
            found.append(f"{others} other sessions on STOCKRAY_DATABASE_URL")
    elif postgres.embedded_running(postgres.pgdata_dir(settings)):
        found.append("postgres")
    if state.ray.started_by_up and ray_head.head_processes(state.ray):
        found.append("ray")
    elif (
        state.serve.deployed_by_up
        and state.ray.dashboard_url
        and state.serve.app in serve_deploy.applications(state.ray.dashboard_url)
    ):
        found.append("serve")
    if state.sim.started_by_up and sim_process.alive(state.sim):
        found.append("sim")
    return found


def load_dump(dsn: str, dump: Path, manifest: Manifest) -> catalog.DatabaseFacts:
    """Replace the database's public tables with the dump's in ONE transaction; its facts."""
    pg_restore, _ = client_tool("pg_restore", manifest.postgres.pg_dump_major)
    psql, _ = client_tool("psql", 0)
    url, env = libpq(dsn)
    # Tables the backup lacks (a newer migration's) would make the next `up` fail to migrate.
    extras = [t for t in run_connected(dsn, catalog.public_tables) if t not in manifest.tables]
    load = [psql, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
    if extras:
        load += ["-c", catalog.drop_tables_statement(extras)]
    load += ["-f", "-", f"--dbname={url}"]
    script_cmd = [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges", "-f", "-"]
    with tempfile.TemporaryFile() as script_err:
        script = subprocess.Popen(
            [*script_cmd, str(dump)], stdout=subprocess.PIPE, stderr=script_err
        )
        assert script.stdout is not None
        loaded = subprocess.run(
            load, stdin=script.stdout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        script.stdout.close()
        script.wait()
        script_err.seek(0)
        script_msg = script_err.read().decode(errors="replace")
    if loaded.returncode != 0:
        msg = last_line(loaded.stderr.decode(errors="replace"))
        raise BackupError(f"loading {dump} failed, the database is unchanged: {msg}")
    if script.returncode != 0:
        raise BackupError(f"pg_restore could not read {dump}: {last_line(script_msg)}")
    return run_connected(dsn, catalog.database_facts)


def _stage_embedded(
    settings: Settings, backup_path: Path, manifest: Manifest
) -> tuple[Path, catalog.DatabaseFacts]:
    staging = postgres.pgdata_dir(settings).with_name("pg.restore")
    postgres.stop_embedded(staging)  # an interrupted restore may have left it running
    shutil.rmtree(staging, ignore_errors=True)
    try:
        facts = load_dump(embedded_uri(staging), backup_path / DUMP, manifest)
    finally:
        postgres.stop_embedded(staging)
    return staging, facts


def stop_running_stack(settings: Settings, force: bool) -> None:
    """Before a restore: refuse a running stack (exit 2) unless `force`, which stops what
    `up` started."""
    running = running_components(settings)
    if running and not force:
        raise BackupError(
            f"the stack is running ({', '.join(running)}); stop it (`stockray down`) first, "
            "or add --force to stop what `up` started and restore",
            2,
        )
    if running:
        from cluster import stack

        stack.down(settings)


def restore(settings: Settings, path: Path, force: bool) -> Restored:
    """Bring the stack's data back to the backup at `path`.

    The stack is left stopped. A running one is refused unless `force`, which stops it first.
    """
    manifest = verify_backup(path)
    check_migrations(manifest)
    stop_running_stack(settings, force)
    settings.home.mkdir(parents=True, exist_ok=True)
    lake_staging = settings.home / "lake.restore"
    stage_lake(path / "lake", manifest.lake, lake_staging)
    if settings.database_url is None:
        postgres.stop_embedded(postgres.pgdata_dir(settings))  # one not started by `up`
        pg_staging, facts = _stage_embedded(settings, path, manifest)
    else:
        dsn = settings.database_url.get_secret_value()
        pg_staging, facts = None, load_dump(dsn, path / DUMP, manifest)
    lines = compare_facts(manifest.facts, facts)
    if any(line.startswith("MISMATCH") for line in lines):
        shutil.rmtree(lake_staging, ignore_errors=True)
        return Restored(False, lines)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = []
    if pg_staging is not None:
        kept.append(swap(postgres.pgdata_dir(settings), pg_staging, stamp))
    kept.append(swap(settings.home / "lake", lake_staging, stamp))
    return Restored(True, lines, [k for k in kept if k is not None])

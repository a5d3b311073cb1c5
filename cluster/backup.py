"""`stockray backup` and `stockray restore`: the Postgres database plus the Parquet lake.

A backup is a directory (mode 0700; it holds every table, API key hashes included)::

    manifest.json    format, versions, migrations, per-table row count + checksum, file sha256
    postgres.dump    pg_dump --format=custom of the database
    lake/...         the lake's files, same relative paths

Consistency: the dump and the manifest's table checksums read one exported snapshot. The
lake is copied after it, each file under the writers' lock; collectors write the lake
before committing Postgres, so the lake holds every row the dump has (maybe newer ones,
which the next collect rewrites idempotently). Postgres is authoritative.

Restore verifies every file's sha256 before touching anything, refuses a running stack
unless `--force` (which stops it first), loads the dump in ONE transaction, checks row
counts and checksums, then swaps the lake (and, embedded, the data dir) into place, keeping
the previous ones as `*.pre-restore-<stamp>`. Each step is redone from the backup on a
re-run, so a crash mid-restore is safe to repeat. Exit codes: 0 ok, 1 failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from cluster import postgres
from cluster.state import StackState
from configs.settings import Settings
from core.storage.db import connect
from core.storage.lake import locked as lake_file_locked
from core.storage.migrations import discover

FORMAT = "stockray-backup/1"
DUMP = "postgres.dump"
MANIFEST = "manifest.json"
_CHUNK = 1 << 20
# Fixed text forms, so the same rows give the same checksum on any server.
_DETERMINISTIC = (
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
    "SET extra_float_digits = 1; SET bytea_output = 'hex'"
)


# Order-free and constant-memory (a string_agg of a big table would hit the 1 GB text limit):
# each row's md5 split in two 64-bit halves, each summed exactly as numeric.
_CHECKSUM = (
    "SELECT count(*), md5(coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)"
    " || ':' || coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0))"
    " FROM (SELECT md5(t::text) AS h FROM {table} t) r"
)
CHECKSUM_METHOD = "md5 of the exact sums of the 64-bit halves of each md5(row::text), UTC text"


class BackupError(Exception):
    """A backup or restore stopped; `exit_code` is 1 (failed or corrupt) or 2 (bad usage)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- Postgres client tools ------------------------------------------------------------------


def _tool(name: str, min_major: int) -> tuple[str, int]:
    """The newest `name` among PATH's and pgserver's (PG 16) that is at least `min_major`."""
    spec = importlib.util.find_spec("pgserver")
    candidates = [shutil.which(name)]
    if spec and spec.submodule_search_locations:
        candidates.append(str(Path(spec.submodule_search_locations[0]) / "pginstall/bin" / name))
    found = []
    for path in filter(None, candidates):
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        match = re.search(r"\)\s+(\d+)", out.stdout)
        if match:
            found.append((int(match[1]), path))
    if not found or max(found)[0] < min_major:
        have = ", ".join(f"{p} ({v})" for v, p in found) or "none"
        raise BackupError(f"{name} {min_major} or newer is needed (found: {have}); install it")
    major, path = max(found)
    return path, major


def _libpq(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN without its password, and an environment passing it as PGPASSWORD.

    Client tools take the DSN on their command line, which `ps` shows to every local user.
    """
    parts = urlsplit(dsn)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    query = parse_qsl(parts.query, keep_blank_values=True)
    password = unquote(password) or dict(query).get("password", "")
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if not password:
        return dsn, env
    env["PGPASSWORD"] = password
    netloc = f"{user}@{hostport}" if user else hostport
    query_text = urlencode([(k, v) for k, v in query if k != "password"])
    return urlunsplit(parts._replace(netloc=netloc, query=query_text)), env


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


# -- database facts: tables, sequences, migrations ------------------------------------------


async def database_facts(conn) -> dict:
    """Row count and checksum of every public table, sequence values and applied migrations."""
    await conn.execute(_DETERMINISTIC)
    tables = {}
    names = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname"
    )
    for (name,) in names:
        ident = '"' + name.replace('"', '""') + '"'
        rows, digest = await conn.fetchrow(_CHECKSUM.format(table=f"public.{ident}"))
        tables[name] = {"rows": rows, "checksum": digest}
    sequences = {
        r["sequencename"]: r["last_value"]
        for r in await conn.fetch(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' "
            "ORDER BY sequencename"
        )
    }
    migrations = []
    if "schema_migrations" in tables:
        migrations = [
            dict(r)
            for r in await conn.fetch(
                "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
            )
        ]
    return {"tables": tables, "sequences": sequences, "migrations": migrations}


def compare_facts(expected: dict, found: dict) -> list[str]:
    """One line per table and sequence; lines for mismatches start with 'MISMATCH'."""
    lines = []
    for name in sorted(set(expected["tables"]) | set(found["tables"])):
        want, got = expected["tables"].get(name), found["tables"].get(name)
        ok = want == got
        shown = got or {"rows": "-", "checksum": "absent"}
        lines.append(
            f"{'ok      ' if ok else 'MISMATCH'} table {name:<22} rows {shown['rows']!s:>8}  "
            f"checksum {shown['checksum']}" + ("" if ok else f"  (backup: {want})")
        )
    for name in sorted(set(expected["sequences"]) | set(found["sequences"])):
        want, got = expected["sequences"].get(name), found["sequences"].get(name)
        mark = "ok      " if want == got else "MISMATCH"
        lines.append(f"{mark} sequence {name:<19} last_value {got} (backup: {want})")
    return lines


# -- files ----------------------------------------------------------------------------------


def _copy_hashed(src: Path, dst: Path) -> dict:
    """Copy `src` to `dst`, returning its size and sha256 (the caller syncs to disk)."""
    digest, size = hashlib.sha256(), 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            fout.write(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _lake_files(root: Path) -> list[Path]:
    """Regular files under the lake, minus dot-files (locks, writers' temp files)."""
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _copy_lake(src: Path, dst: Path) -> list[dict]:
    entries = []
    for path in _lake_files(src):
        # Whole-file swaps make every copy intact; the lock makes it wait for a write in flight.
        with lake_file_locked(path):
            info = _copy_hashed(path, dst / path.relative_to(src))
        entries.append({"path": str(path.relative_to(src)), **info})
    return entries


# -- embedded server ------------------------------------------------------------------------


def _embedded_uri(pgdata: Path) -> str:
    """Start (or find running) a pgserver cluster at `pgdata`, initialising it if empty."""
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        return pgserver.get_server(pgdata, cleanup_mode=None).get_uri()
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        raise BackupError(f"embedded Postgres in {pgdata} did not start ({exc})") from None


# -- backup ---------------------------------------------------------------------------------


async def _dump_in_snapshot(dsn: str, dump: Path) -> dict:
    """pg_dump and the table facts from one exported snapshot; the manifest's postgres part."""
    conn = await connect(dsn)
    try:
        server_major = int(await conn.fetchval("SHOW server_version_num")) // 10000
        pg_dump, dump_major = _tool("pg_dump", server_major)
        url, env = _libpq(dsn)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            proc = await asyncio.create_subprocess_exec(
                *[pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={dump}"],
                *["--no-password", f"--dbname={url}"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            facts = await database_facts(conn)  # meanwhile, in the same snapshot
            _, err = await proc.communicate()
        if proc.returncode != 0:
            raise BackupError(f"pg_dump failed: {_last_line(err.decode(errors='replace'))}")
        return {
            "server_version": await conn.fetchval("SHOW server_version"),
            "pg_dump_major": dump_major,
            "database": urlsplit(dsn).path.lstrip("/") or None,
            **facts,
        }
    finally:
        await conn.close()


def default_path(settings: Settings) -> Path:
    """`<home>/backups/<UTC timestamp>`."""
    return settings.home / "backups" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def backup(settings: Settings, path: Path) -> dict:
    """Write a backup directory at `path` (which must not exist or be empty); its manifest."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{path} already exists and is not empty; choose a new PATH", 2)
    started = time.monotonic()
    pgdata = postgres.pgdata_dir(settings)
    started_pg = False
    if settings.database_url is not None:
        dsn = settings.database_url.get_secret_value()
    else:
        if not (pgdata / "PG_VERSION").exists():
            raise BackupError(f"no database in {pgdata}: nothing to back up", 2)
        started_pg = not postgres.embedded_running(pgdata)
        dsn = _embedded_uri(pgdata)
    # Written beside PATH and renamed at the end: a PATH with a manifest is complete.
    staging = path.with_name(f".{path.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    try:
        pg = asyncio.run(_dump_in_snapshot(dsn, staging / DUMP))
    finally:
        if started_pg:
            postgres.stop_embedded(pgdata)
    lake = _copy_lake(settings.home / "lake", staging / "lake")
    os.sync()  # once, before the manifest marks the backup complete (one fsync per file is slow)
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "stockray_version": _version(),
        "authoritative": "postgres",
        "consistency": "postgres.dump and tables/sequences read one snapshot; the lake was "
        "copied after it and holds at least the rows the dump has",
        "postgres": {
            "embedded": settings.database_url is None,
            "server_version": pg["server_version"],
            "pg_dump_major": pg["pg_dump_major"],
            "database": pg["database"],
            "file": DUMP,
            "bytes": (staging / DUMP).stat().st_size,
            "sha256": _sha256(staging / DUMP),
        },
        "migrations": pg["migrations"],
        "checksum_method": CHECKSUM_METHOD,
        "tables": pg["tables"],
        "sequences": pg["sequences"],
        "lake": lake,
        "seconds": round(time.monotonic() - started, 3),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str) + "\n")
    if path.exists():
        path.rmdir()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.rename(staging, path)
    return manifest


def _version() -> str:
    try:
        return importlib.metadata.version("stockray")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# -- restore --------------------------------------------------------------------------------


def verify_backup(path: Path) -> dict:
    """The manifest, once every file it lists has its recorded sha256 (else BackupError)."""
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise BackupError(f"{path}: no such backup directory", 2)
    if not manifest_path.is_file():
        raise BackupError(f"{manifest_path}: missing; not a stockray backup, or unfinished", 2)
    try:
        manifest = json.loads(manifest_path.read_text())
        files = [(DUMP, manifest["postgres"]["sha256"])]
        files += [(f"lake/{e['path']}", e["sha256"]) for e in manifest["lake"]]
        if not all(isinstance(manifest[k], dict) for k in ("tables", "sequences")):
            raise TypeError("tables and sequences must be objects")
        if not isinstance(manifest["migrations"], list):
            raise TypeError("migrations must be a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(
            f"{manifest_path}: corrupt manifest ({type(exc).__name__}: {exc})"
        ) from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{manifest_path}: format {manifest.get('format')!r}, not {FORMAT}")
    for rel, want in files:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise BackupError(f"{manifest_path}: corrupt manifest (path {rel!r} leaves the backup)")
        if not (path / rel).is_file():
            raise BackupError(f"{path / rel}: missing from the backup")
        if _sha256(path / rel) != want:
            raise BackupError(f"{path / rel}: sha256 mismatch, the backup is corrupt")
    return manifest


def _check_migrations(manifest: dict) -> None:
    known = {m.version: m for m in discover()}
    for m in manifest["migrations"]:
        code = known.get(m["version"])
        if code is None or code.checksum != m["checksum"]:
            why = "does not know" if code is None else "has with a different text"
            raise BackupError(
                f"the backup has migration {m['version']:04d}_{m['name']}, which this code {why}; "
                f"restore it with stockray {manifest.get('stockray_version')}",
                2,
            )


async def _other_sessions(dsn: str) -> int:
    conn = await connect(dsn)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
    finally:
        await conn.close()


def running_components(settings: Settings) -> list[str]:
    """What of this stack runs: embedded postgres, ray, serve, sim, other database clients."""
    from cluster import ray_head, serve_deploy, sim_process

    state = StackState.load(settings.home)
    found = []
    if settings.database_url is not None:
        others = asyncio.run(_other_sessions(settings.database_url.get_secret_value()))
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


async def _facts(dsn: str) -> dict:
    conn = await connect(dsn)
    try:
        return await database_facts(conn)
    finally:
        await conn.close()


async def _extra_tables(dsn: str, keep: Iterable[str]) -> list[str]:
    conn = await connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    finally:
        await conn.close()
    return [r["tablename"] for r in rows if r["tablename"] not in set(keep)]


def _load_dump(dsn: str, dump: Path, manifest: dict) -> dict:
    """Replace the database's public tables with the dump's in ONE transaction; its facts."""
    pg_restore, _ = _tool("pg_restore", manifest["postgres"]["pg_dump_major"])
    psql, _ = _tool("psql", 0)
    url, env = _libpq(dsn)
    # Tables the backup lacks (a newer migration's) would make the next `up` fail to migrate.
    extras = asyncio.run(_extra_tables(dsn, manifest["tables"]))
    load = [psql, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
    if extras:
        quoted = ", ".join('public."' + t.replace('"', '""') + '"' for t in extras)
        load += ["-c", f"DROP TABLE IF EXISTS {quoted} CASCADE"]
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
        msg = _last_line(loaded.stderr.decode(errors="replace"))
        raise BackupError(f"loading {dump} failed, the database is unchanged: {msg}")
    if script.returncode != 0:
        raise BackupError(f"pg_restore could not read {dump}: {_last_line(script_msg)}")
    return asyncio.run(_facts(dsn))


def _stage_lake(backup_path: Path, manifest: dict, staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for entry in manifest["lake"]:
        copied = _copy_hashed(backup_path / "lake" / entry["path"], staging / entry["path"])
        if copied["sha256"] != entry["sha256"]:
            raise BackupError(f"{staging / entry['path']}: sha256 mismatch after copying")
    os.sync()


def _stage_embedded(settings: Settings, backup_path: Path, manifest: dict) -> tuple[Path, dict]:
    staging = postgres.pgdata_dir(settings).with_name("pg.restore")
    postgres.stop_embedded(staging)  # an interrupted restore may have left it running
    shutil.rmtree(staging, ignore_errors=True)
    try:
        facts = _load_dump(_embedded_uri(staging), backup_path / DUMP, manifest)
    finally:
        postgres.stop_embedded(staging)
    return staging, facts


def _swap(live: Path, staged: Path, stamp: str) -> Path | None:
    """Put `staged` where `live` is; the previous `live` is kept and returned."""
    kept = None
    if live.exists():
        kept = live.with_name(f"{live.name}.pre-restore-{stamp}")
        os.rename(live, kept)
    os.rename(staged, live)
    return kept


def restore(settings: Settings, path: Path, force: bool) -> tuple[bool, list[str], list[Path]]:
    """Bring the stack's data back to the backup at `path`; (verified, report lines, kept dirs).

    The stack is left stopped. A running one is refused unless `force`, which stops it first.
    """
    manifest = verify_backup(path)
    _check_migrations(manifest)
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
    settings.home.mkdir(parents=True, exist_ok=True)
    lake_staging = settings.home / "lake.restore"
    _stage_lake(path, manifest, lake_staging)
    if settings.database_url is None:
        postgres.stop_embedded(postgres.pgdata_dir(settings))  # one not started by `up`
        pg_staging, facts = _stage_embedded(settings, path, manifest)
    else:
        pg_staging, facts = (
            None,
            _load_dump(settings.database_url.get_secret_value(), path / DUMP, manifest),
        )
    lines = compare_facts(manifest, facts)
    if any(line.startswith("MISMATCH") for line in lines):
        shutil.rmtree(lake_staging, ignore_errors=True)
        return False, lines, []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = []
    if pg_staging is not None:
        kept.append(_swap(postgres.pgdata_dir(settings), pg_staging, stamp))
    kept.append(_swap(settings.home / "lake", lake_staging, stamp))
    return True, lines, [k for k in kept if k is not None]


# -- commands -------------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """Write a backup (Postgres dump + lake + manifest) to PATH."""
    path = Path(args.path).expanduser().resolve() if args.path else default_path(settings)
    try:
        manifest = backup(settings, path)
    except BackupError as exc:
        print(f"stockray backup: {exc}", file=sys.stderr)
        return exc.exit_code
    rows = sum(t["rows"] for t in manifest["tables"].values())
    lake_bytes = sum(e["bytes"] for e in manifest["lake"])
    print(f"stockray backup: {path}")
    print(
        f"  postgres  {len(manifest['tables'])} tables, {rows} rows, "
        f"dump {_size(manifest['postgres']['bytes'])}"
    )
    print(f"  lake      {len(manifest['lake'])} files, {_size(lake_bytes)}")
    print(f"  took {manifest['seconds']:.1f}s")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Restore a stopped stack's data from a backup directory."""
    path = Path(args.path).expanduser().resolve()
    started = time.monotonic()
    try:
        ok, lines, kept = restore(settings, path, args.force)
    except BackupError as exc:
        print(f"stockray restore: {exc}", file=sys.stderr)
        return exc.exit_code
    for line in lines:
        print(f"  {line}")
    if not ok:
        where = "the database" if settings.database_url else "nothing"
        print(
            f"stockray restore: the restored data does not match {path / MANIFEST}; "
            f"{where} was changed",
            file=sys.stderr,
        )
        return 1
    took = time.monotonic() - started
    print(f"stockray restore: {path} restored into {settings.home} in {took:.1f}s")
    for k in kept:
        print(f"  previous data kept in {k} (delete it once satisfied)")
    print("  the stack is stopped: run `stockray up` to start it")
    return 0

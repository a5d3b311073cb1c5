"""Postgres client tools (pg_dump, pg_restore, psql) and the embedded server, for backups."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from cluster.backup.errors import BackupError


def client_tool(name: str, min_major: int) -> tuple[str, int]:
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


def libpq(dsn: str) -> tuple[str, dict[str, str]]:
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


def last_line(text: str) -> str:
    """A tool's last non-blank line of output (its error, usually)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def embedded_uri(pgdata: Path) -> str:
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

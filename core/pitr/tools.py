"""The Postgres programs backups run: finding them, passing a DSN without showing its
password, the user the embedded server runs as, and their error lines."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit


class ToolError(Exception):
    """A Postgres program is missing, too old, or failed (its last line of output)."""


def pgserver_bin() -> Path | None:
    """The bin dir of pgserver's Postgres (16), if pgserver is installed (not imported)."""
    spec = importlib.util.find_spec("pgserver")
    if spec and spec.submodule_search_locations:
        return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
    return None


def client_tool(name: str, min_major: int) -> tuple[str, int]:
    """The newest `name` among PATH's and pgserver's (PG 16) that is at least `min_major`."""
    bin_dir = pgserver_bin()
    candidates = [shutil.which(name), str(bin_dir / name) if bin_dir else None]
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
        raise ToolError(f"{name} {min_major} or newer is needed (found: {have}); install it")
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


def server_user() -> str | None:
    """The system user the embedded server runs as: pgserver's own user under root."""
    return "pgserver" if os.geteuid() == 0 else None


def run_tool(args: list[str], env: dict[str, str] | None = None, timeout_s: float = 3600) -> str:
    """Run a Postgres program; its stdout, or ToolError with its last line of error."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"{Path(args[0]).name}: {exc}") from None
    if done.returncode != 0:
        raise ToolError(f"{Path(args[0]).name} failed: {last_line(done.stderr or done.stdout)}")
    return done.stdout

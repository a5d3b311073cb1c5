"""`stockray keys create|list|revoke|set-quota`: manage API keys in the stack's database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import asyncpg

from cluster.state import StackError
from core.storage import api_keys
from core.storage.db import run_connected

T = TypeVar("T")


def _run(dsn: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    try:
        return run_connected(dsn, work)
    except asyncpg.UndefinedTableError:
        raise StackError("no api_keys table: run `stockray migrate` first") from None
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise StackError(f"database unreachable ({why})") from None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _quota(key: api_keys.KeyInfo) -> str:
    micro = key.chat_micro_per_day
    return "default" if micro is None else f"{micro / 1e6:g}"


def cmd_create(dsn: str, args: argparse.Namespace) -> int:
    """Create a key and print it once (the notice goes to stderr, so stdout is just the key)."""
    quota = getattr(args, "chat_usd_per_day", None)
    info, plaintext = _run(
        dsn, lambda conn: api_keys.create_key(conn, args.name, args.scope, quota)
    )
    print(plaintext)
    print(
        f"created key {info.prefix} ({info.name}, scope {info.scope}, chat quota "
        f"{_quota(info)}); "
        "store it now: it cannot be shown again",
        file=sys.stderr,
    )
    return 0


def cmd_list(dsn: str, args: argparse.Namespace) -> int:
    """Print every key as a table (prefixes only, never secrets or hashes)."""
    keys = _run(dsn, api_keys.list_keys)
    header = ("PREFIX", "NAME", "SCOPE", "CHAT USD/DAY", "CREATED", "LAST USED", "REVOKED")
    rows = [
        (k.prefix, k.name, k.scope, _quota(k), _when(k.created_at), _when(k.last_used_at),
         _when(k.revoked_at))
        for k in keys
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(no API keys; create one with `stockray keys create`)")
    return 0


def cmd_revoke(dsn: str, args: argparse.Namespace) -> int:
    """Revoke a key by prefix or id; unknown is an error."""
    if not _run(dsn, lambda conn: api_keys.revoke_key(conn, args.key)):
        raise StackError(f"no API key with prefix or id {args.key!r}")
    print(f"revoked {args.key} (replicas stop accepting it within {api_keys.CACHE_TTL_S:g}s)")
    return 0


def cmd_set_quota(dsn: str, args: argparse.Namespace) -> int:
    """Set a key's daily chat quota in USD, or return it to the default; unknown is an error."""
    usd = None if args.default else args.chat_usd_per_day
    info = _run(dsn, lambda conn: api_keys.set_chat_quota(conn, args.key, usd))
    if info is None:
        raise StackError(f"no API key with prefix or id {args.key!r}")
    shown = "the default (STOCKRAY_CHAT_USD_PER_KEY_PER_DAY)" if usd is None else f"${usd:g}"
    print(f"chat quota of {info.prefix} ({info.name}): {shown} per UTC day")
    return 0

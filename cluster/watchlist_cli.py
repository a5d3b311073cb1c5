"""`stockray watchlist list|sync`: the index groups under `<config_dir>/watchlists/`."""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx

from configs.groups import (
    ALL_GROUP,
    GROUP_COLUMNS,
    GROUP_NAME,
    GROUPS_DIR,
    GroupFileError,
    effective_watchlist,
    group_files,
    parse_group,
    read_group_file,
)
from configs.sections import InstrumentConfig, Providers
from configs.settings import ConfigError, check_schedules, load_env, load_section

EXIT_REFUSED = 2
SYNC_MARK = "# Synced by `stockray watchlist sync`"
_MAX_LISTED = 10


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `watchlist list` and `watchlist sync` on the `stockray` parser."""
    parser = sub.add_parser("watchlist", help="list the watchlist groups or sync one from a CSV")
    actions = parser.add_subparsers(dest="watchlist_command", required=True)
    listing = actions.add_parser("list", help=(cmd_list.__doc__ or "").splitlines()[0])
    listing.set_defaults(watchlist_handler=cmd_list)
    sync = actions.add_parser("sync", help=(cmd_sync.__doc__ or "").splitlines()[0])
    sync.add_argument("--group", required=True, metavar="NAME", help="e.g. sp500 (a file stem)")
    sync.add_argument(
        "--from", dest="source", required=True, metavar="PATH_OR_URL",
        help="CSV: id,name,exchange[,currency,timezone][,<provider>...] (http(s) URL or path)",
    )  # fmt: skip
    sync.set_defaults(watchlist_handler=cmd_sync)


def cmd_list(args: argparse.Namespace) -> int:
    """Print watchlist.yaml's groups, the group files and what STOCKRAY_WATCHLIST selects."""
    settings = load_env()
    own = load_section(settings.config_dir, "watchlist")
    providers = load_section(settings.config_dir, "providers")
    selected = [n for n in settings.watchlist_groups.split(",") if n]
    print(f"watchlist.yaml: {len(own.instruments)} instruments")
    for name, members in own.groups.items():
        print(f"  {name:<12} {len(members):>4}  (watchlist.yaml)")
    for name, path in group_files(settings.config_dir).items():
        mark = "selected" if name in selected else "not selected"
        try:
            count = f"{len(read_group_file(path, providers)):>4}"
        except GroupFileError as exc:
            count, mark = "   ?", f"INVALID: {exc}"
        print(f"  {name:<12} {count}  ({path.name}, {mark})")
    watchlist = effective_watchlist(settings.config_dir, own, providers, settings.watchlist_groups)
    chosen = settings.watchlist_groups or "(empty: watchlist.yaml only)"
    print(f"STOCKRAY_WATCHLIST={chosen}: {len(watchlist.instruments)} instruments")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Validate a CSV, then replace `<config_dir>/watchlists/<group>.csv` with it at once."""
    settings = load_env()
    name = args.group
    if not GROUP_NAME.match(name) or name == ALL_GROUP:
        return _refuse(f"--group {name!r}: use a lower-case name (a-z, 0-9, _, -), not `all`")
    own = load_section(settings.config_dir, "watchlist")
    if name in own.groups:
        return _refuse(f"--group {name!r} is a group of watchlist.yaml; choose another name")
    providers = load_section(settings.config_dir, "providers")
    try:
        text = _fetch(args.source)
    except (OSError, httpx.HTTPError, UnicodeDecodeError) as exc:
        return _refuse(f"cannot read {args.source}: {exc}")
    try:
        rows = parse_group(text, args.source, providers)
    except GroupFileError as exc:
        return _refuse(str(exc))
    if name in settings.watchlist_groups.split(","):  # selected: the stack must still start
        try:
            merged = effective_watchlist(
                settings.config_dir, own, providers, settings.watchlist_groups, {name: rows}
            )
            check_schedules(
                settings.config_dir, merged, load_section(settings.config_dir, "schedules")
            )
        except ConfigError as exc:
            return _refuse(f"{args.source} would not load with STOCKRAY_WATCHLIST: {exc}")
    path = settings.config_dir / GROUPS_DIR / f"{name}.csv"
    before = _previous(path, providers)
    _write_atomically(path, _render(text, args.source, rows, providers))
    print(f"stockray watchlist sync: wrote {path} ({len(rows)} instruments)")
    _print_changes(before, rows)
    return 0


def _refuse(message: str) -> int:
    print(f"stockray watchlist: {message}", file=sys.stderr)
    return EXIT_REFUSED


def _fetch(source: str) -> str:
    if source.startswith(("http://", "https://")):
        response = httpx.get(source, timeout=30, follow_redirects=True)
        response.raise_for_status()
        return response.content.decode("utf-8-sig")
    return Path(source).expanduser().read_text(encoding="utf-8-sig")


def _previous(path: Path, providers: Providers) -> dict[str, InstrumentConfig] | None:
    """The current file's instruments by id; None when there is none or it does not parse."""
    if not path.exists():
        return None
    try:
        return {row.id: row for row in read_group_file(path, providers)}
    except GroupFileError as exc:
        print(f"  (the previous file did not load: {exc})")
        return None


def _render(text: str, source: str, rows: list[InstrumentConfig], providers: Providers) -> str:
    """The group file: the input's comments, a sync line, then every column filled in."""
    kept = [
        line for line in text.splitlines()
        if line.lstrip().startswith("#") and not line.startswith(SYNC_MARK)
    ]  # fmt: skip
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = io.StringIO()
    for line in [*kept, f"{SYNC_MARK} from {source} on {when}."]:
        out.write(line + "\n")
    provider_names = list(providers.providers)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*GROUP_COLUMNS, *provider_names])
    for row in rows:
        base = [row.id, row.name, row.exchange, row.currency, row.timezone]
        writer.writerow(base + [row.symbols.get(p, "") for p in provider_names])
    return out.getvalue()


def _write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _print_changes(
    before: dict[str, InstrumentConfig] | None, rows: list[InstrumentConfig]
) -> None:
    old = before or {}
    new = {row.id: row for row in rows}
    added = [i for i in new if i not in old]
    removed = [i for i in old if i not in new]
    changed = [i for i in new if i in old and old[i] != new[i]]
    print(f"  {len(added)} added, {len(removed)} removed, {len(changed)} changed")
    for label, ids in (("added", added), ("removed", removed), ("changed", changed)):
        if ids:
            more = f" (+{len(ids) - _MAX_LISTED} more)" if len(ids) > _MAX_LISTED else ""
            print(f"  {label}: {', '.join(ids[:_MAX_LISTED])}{more}")

"""`stockray` command line: up, down, status, migrate, config, keys, backup, restore,
doctor, monitoring, watchlist, and the jobs (collect, backfill, analyze, weekly_report,
retention, basebackup)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cluster import backup, doctor, jobs_cli, keys, monitoring_cli, watchlist_cli
from cluster.state import StackError
from configs.settings import ConfigError, Settings, describe_settings, load_settings

if TYPE_CHECKING:
    from cluster.first_run import FirstRun

EXIT_CONFIG = 2


def _print_report(report, verb: str) -> None:
    for c in report.components:
        mark = "ok " if c.ok else "DOWN"
        print(f"  [{mark}] {c.name:<9} {c.detail}")
    if report.ready_s is not None:
        print(f"stockray {verb}: /readyz answered 200 {report.ready_s:.1f}s after `up` began")


def cmd_up(settings: Settings) -> int:
    """Start the stack (or report what already runs)."""
    from cluster import stack

    print(f"stockray up: data dir {settings.home}")
    report = stack.up(settings)
    _print_report(report, "up")
    print(f"  API        {settings.api_url}  (OpenAPI {settings.api_url}/docs)")
    print(f"  dashboard  {settings.dashboard_url}  (Ray; clients need RAY_AUTH_MODE=token)")
    _print_first_run(settings, report.first_run)
    return 0


def _print_first_run(settings: Settings, done: FirstRun | None) -> None:
    if done is None:
        return
    if done.admin_key:
        print(f"admin API key (shown once): {done.admin_key}")
        print(f"  open {settings.api_url}/ and enter it (store it now: it cannot be shown again)")
    if done.collection_job:
        print(
            f"first collection started: job {done.collection_job} ({done.instruments} "
            f"instruments); follow it with `RAY_AUTH_MODE=token ray job logs -f "
            f"{done.collection_job} --address {settings.dashboard_url}` or on "
            f"{settings.api_url}/#/ops"
        )


def cmd_down(settings: Settings) -> int:
    """Stop what `up` started; data stays."""
    from cluster import stack

    _print_report(stack.down(settings), "down")
    print(f"stockray down: data kept in {settings.home}")
    return 0


def cmd_status(settings: Settings) -> int:
    """Print each component's state; exit 1 if any is down."""
    from cluster import stack

    report = stack.status(settings)
    _print_report(report, "status")
    return 0 if report.ok else 1


def _database_dsn(settings: Settings) -> str:
    """STOCKRAY_DATABASE_URL, else the running embedded Postgres; StackError if neither."""
    from cluster.state import StackState

    dsn = (
        settings.database_url.get_secret_value()
        if settings.database_url
        else StackState.load(settings.home).postgres.uri
    )
    if not dsn:
        raise StackError("no database: set STOCKRAY_DATABASE_URL or run `stockray up` first")
    return dsn


def cmd_migrate(settings: Settings) -> int:
    """Apply pending migrations to STOCKRAY_DATABASE_URL (or the running embedded Postgres)."""
    from cluster.postgres import prepare_database

    applied = prepare_database(_database_dsn(settings), settings)
    print(f"applied: {', '.join(applied)}" if applied else "schema up to date")
    return 0


def cmd_config(settings: Settings) -> int:
    """Print every setting's effective value, secrets masked."""
    for var, _, _ in describe_settings():
        aliases = {"RAY_ADDRESS": "ray_address", "STOCKRAY_WATCHLIST": "watchlist_groups"}
        field = aliases.get(var) or var.removeprefix("STOCKRAY_").lower()
        print(
            f"{var}={getattr(settings, field)!s}"
            if getattr(settings, field) is not None
            else f"{var}="
        )
    for name in ("watchlist", "providers", "schedules", "pricing", "serve"):
        print(f"# {settings.config_dir / (name + '.yaml')}: ok")
    return 0


COMMANDS = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "migrate": cmd_migrate,
    "config": cmd_config,
}


def _add_keys_parser(sub: argparse._SubParsersAction) -> None:
    keys_parser = sub.add_parser(
        "keys", help="create, list, revoke API keys or set their chat quota"
    )
    actions = keys_parser.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help=(keys.cmd_create.__doc__ or "").splitlines()[0])
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument("--scope", required=True, choices=keys.api_keys.SCOPES)
    create.add_argument(
        "--chat-usd-per-day", type=_usd, metavar="X",
        help="its own daily chat quota (default: STOCKRAY_CHAT_USD_PER_KEY_PER_DAY)",
    )  # fmt: skip
    create.set_defaults(keys_handler=keys.cmd_create)
    listing = actions.add_parser("list", help=(keys.cmd_list.__doc__ or "").splitlines()[0])
    listing.set_defaults(keys_handler=keys.cmd_list)
    revoke = actions.add_parser("revoke", help=(keys.cmd_revoke.__doc__ or "").splitlines()[0])
    revoke.add_argument("key", metavar="PREFIX_OR_ID")
    revoke.set_defaults(keys_handler=keys.cmd_revoke)
    quota = actions.add_parser("set-quota", help=(keys.cmd_set_quota.__doc__ or "").splitlines()[0])
    quota.add_argument("key", metavar="PREFIX_OR_ID")
    amount = quota.add_mutually_exclusive_group(required=True)
    amount.add_argument("--chat-usd-per-day", type=_usd, metavar="X", help="USD per UTC day")
    amount.add_argument("--default", action="store_true", help="back to the setting's default")
    quota.set_defaults(keys_handler=keys.cmd_set_quota)


def _usd(text: str) -> float:
    value = float(text)
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"a non-negative USD amount, not {text!r}")
    return value


def _add_backup_parsers(sub: argparse._SubParsersAction) -> None:
    dump = sub.add_parser("backup", help=(backup.cmd_backup.__doc__ or "").splitlines()[0])
    dump.add_argument(
        "path", nargs="?", metavar="PATH", help="new directory (default: <home>/backups/<UTC time>)"
    )
    dump.set_defaults(backup_handler=backup.cmd_backup)
    load = sub.add_parser("restore", help=(backup.cmd_restore.__doc__ or "").splitlines()[0])
    load.add_argument(
        "path", nargs="?", metavar="PATH", help="a directory written by `stockray backup`"
    )
    load.add_argument(
        "--to-time", metavar="TIME",
        help="point-in-time recovery of the embedded Postgres from its base backups and "
        "archived WAL, e.g. '2026-12-01 09:30:00+00' (instead of PATH)",
    )  # fmt: skip
    load.add_argument("--force", action="store_true", help="stop a running stack, then restore")
    load.set_defaults(backup_handler=backup.cmd_restore)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (one subcommand per entry in COMMANDS, plus `keys` with its own)."""
    parser = argparse.ArgumentParser(prog="stockray", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn in COMMANDS.items():
        sub.add_parser(name, help=(fn.__doc__ or "").splitlines()[0])
    _add_keys_parser(sub)
    _add_backup_parsers(sub)
    watchlist_cli.add_parser(sub)
    doctor.add_parser(sub)
    monitoring_cli.add_parser(sub)
    for name in jobs_cli.JOBS:  # listed here; `main` hands their arguments to jobs_cli
        sub.add_parser(name, help=f"submit `python -m jobs.{name} ARGS` and follow it")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `stockray` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in jobs_cli.JOBS:  # the job's own arguments pass through
        return jobs_cli.main(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "watchlist":  # loads what it needs: it may repair a selected group
            return args.watchlist_handler(args)
        settings = load_settings()
        if args.command == "keys":
            return args.keys_handler(_database_dsn(settings), args)
        if args.command == "doctor":
            return args.doctor_handler(settings, args)
        if args.command in ("backup", "restore"):
            return args.backup_handler(settings, args)
        if args.command == "monitoring":
            return args.monitoring_handler(settings)
        return COMMANDS[args.command](settings)
    except ConfigError as exc:
        print(f"stockray: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StackError as exc:
        print(f"stockray {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stockray {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

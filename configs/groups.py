"""Index watchlists: `<config_dir>/watchlists/<group>.csv` files, parsed and checked line by
line, and the effective watchlist (watchlist.yaml plus the groups STOCKRAY_WATCHLIST names)."""

from __future__ import annotations

import csv
import re
from collections import Counter
from functools import cache
from pathlib import Path

from pydantic import ValidationError

from configs.errors import ConfigError, shown_path
from configs.sections import InstrumentConfig, Providers, Watchlist
from core.models import Capability

GROUPS_DIR = "watchlists"  # <config_dir>/watchlists/<group>.csv
ALL_GROUP = "all"
GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")

GROUP_COLUMNS = ("id", "name", "exchange", "currency", "timezone")
"""The columns every group file may have; the others name providers (yahoo, dart, ...)."""
_CURRENCY_BY_CALENDAR = {
    "XNYS": "USD", "XKRX": "KRW", "XTSE": "CAD", "XTKS": "JPY", "XHKG": "HKD", "XSHG": "CNY",
    "XLON": "GBP", "XETR": "EUR", "XPAR": "EUR", "XIDX": "IDR", "XASX": "AUD",
}  # fmt: skip
_KRX_YAHOO = re.compile(r"^\d{6}\.(KS|KQ)$")
_DART_CODE = re.compile(r"^\d{8}$")


class GroupFileError(ValueError):
    """A group file refused: `<file> line <n>: <reason>`."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source} line {line}: {reason}")
        self.source, self.line, self.reason = source, line, reason


@cache
def exchange_calendar(exchange: str) -> str | None:
    """The calendar (ISO MIC) of an exchange name as core.providers.sessions maps it, or None."""
    from core.providers.sessions import CALENDAR_BY_EXCHANGE  # the one map of exchange names

    name = exchange.upper()
    if name in CALENDAR_BY_EXCHANGE:
        return CALENDAR_BY_EXCHANGE[name]
    return name if name in CALENDAR_BY_EXCHANGE.values() else None


def parse_group(text: str, source: str, providers: Providers) -> list[InstrumentConfig]:
    """The instruments of a group CSV (`#` lines are comments); GroupFileError names the line.

    Columns: `id,name,exchange` and optional `currency,timezone` and one per provider of
    providers.yaml (an empty cell: the provider does not serve it). Missing columns default
    per exchange: currency and timezone from its market, yahoo = id, alphavantage = id for US
    listings, newsapi = name.
    """
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)]
    rows = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise GroupFileError(source, len(lines) or 1, "no header row (id,name,exchange,...)")
    parsed = csv.reader(line for _, line in rows)  # one row per line: no quoted line breaks
    head_line = rows[0][0]
    columns = [c.strip() for c in next(parsed)]
    known = tuple(providers.providers)  # read once: a model attribute costs µs, rows are many
    _check_columns(columns, source, head_line, known)
    prices = providers.capabilities.get(Capability.PRICES, [])
    seen: dict[str, int] = {}
    out = []
    for (n, _), raw in zip(rows[1:], parsed, strict=True):
        cells = [c.strip() for c in raw]
        if len(cells) != len(columns):
            raise GroupFileError(source, n, f"{len(cells)} cells for {len(columns)} columns")
        row = dict(zip(columns, cells, strict=True))
        if row["id"] in seen:
            raise GroupFileError(source, n, f"duplicate id {row['id']!r} (line {seen[row['id']]})")
        seen[row["id"]] = n
        out.append(_group_row(row, source, n, known, prices))
    if not out:
        raise GroupFileError(source, head_line, "no instruments after the header")
    return out


def _check_columns(columns: list[str], source: str, line: int, known: tuple[str, ...]) -> None:
    missing = [c for c in GROUP_COLUMNS[:3] if c not in columns]
    if missing:
        raise GroupFileError(source, line, f"missing column(s): {', '.join(missing)}")
    repeated = sorted(c for c, k in Counter(columns).items() if k > 1)
    if repeated:
        raise GroupFileError(source, line, f"repeated column(s): {', '.join(repeated)}")
    unknown = [c for c in columns if c not in GROUP_COLUMNS and c not in known]
    if unknown:
        raise GroupFileError(
            source,
            line,
            f"column {unknown[0]!r} names no provider in providers.yaml ({', '.join(known)})",
        )


def _group_row(
    row: dict[str, str], source: str, n: int, known: tuple[str, ...], prices: list[str]
) -> InstrumentConfig:
    calendar = exchange_calendar(row["exchange"])
    if calendar is None:
        from core.providers.sessions import CALENDAR_BY_EXCHANGE

        names = ", ".join(CALENDAR_BY_EXCHANGE)
        raise GroupFileError(source, n, f"unknown exchange {row['exchange']!r} (known: {names})")
    symbols = {p: row[p] for p in known if row.get(p)}
    defaults = {"yahoo": row["id"], "newsapi": row["name"]}
    if calendar == "XNYS":
        defaults["alphavantage"] = row["id"]
    for provider, symbol in defaults.items():
        if provider in known and provider not in row:
            symbols[provider] = symbol
    if not any(p in symbols for p in prices):
        names = ", ".join(prices) or "none configured"
        raise GroupFileError(source, n, f"no symbol for a price provider ({names})")
    if calendar == "XKRX" and "yahoo" in symbols and not _KRX_YAHOO.match(symbols["yahoo"]):
        raise GroupFileError(
            source, n, f"yahoo symbol {symbols['yahoo']!r} of a KRX listing is not NNNNNN.KS/.KQ"
        )
    if "dart" in symbols and not _DART_CODE.match(symbols["dart"]):
        raise GroupFileError(source, n, f"dart code {symbols['dart']!r} is not 8 digits")
    data = {
        "id": row["id"],
        "name": row["name"],
        "exchange": row["exchange"],
        "currency": row.get("currency") or _CURRENCY_BY_CALENDAR.get(calendar, ""),
        "timezone": row.get("timezone") or _zones().get(calendar, ""),
        "symbols": symbols,
    }
    try:
        return InstrumentConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"])
        got = data.get(field, "")
        problem = err["msg"].removeprefix("Value error, ")
        raise GroupFileError(source, n, f"{field} {got!r}: {problem}") from None


@cache
def _zones() -> dict[str, str]:
    from core.providers.sessions import CALENDAR_BY_ZONE  # calendar -> its market's zone

    return {mic: zone for zone, mic in CALENDAR_BY_ZONE.items()}


def group_files(config_dir: Path) -> dict[str, Path]:
    """The group files present: name -> `<config_dir>/watchlists/<name>.csv`."""
    folder = config_dir / GROUPS_DIR
    paths = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    return {p.stem: p for p in paths if GROUP_NAME.match(p.stem)}


def read_group_file(path: Path, providers: Providers) -> list[InstrumentConfig]:
    """A group file's instruments; GroupFileError names the file and line."""
    return parse_group(path.read_text(encoding="utf-8-sig"), shown_path(path), providers)


def effective_watchlist(
    config_dir: Path,
    own: Watchlist,
    providers: Providers,
    selected: str,
    replace: dict[str, list[InstrumentConfig]] | None = None,
) -> Watchlist:
    """watchlist.yaml plus the selected groups' files, deduplicated by id (yaml's entry wins).

    Groups: watchlist.yaml's, one per selected file (all its ids), and `all` (every instrument).
    `replace`: rows to use instead of a group's file (a sync checks them before writing).
    """
    names = [n for n in selected.split(",") if n]
    files = group_files(config_dir)
    replace = replace or {}
    unknown = [n for n in names if n not in files and n not in replace]
    if unknown:
        known = ", ".join(files) or f"none in {shown_path(config_dir / GROUPS_DIR)}"
        raise ConfigError(
            "environment variable STOCKRAY_WATCHLIST",
            None,
            f"unknown group {unknown[0]!r} (known: {known})",
        )
    clash = [n for n in names if n in own.groups]
    if clash:
        raise ConfigError(
            shown_path(config_dir / "watchlist.yaml"),
            f"groups.{clash[0]}",
            f"also the name of {shown_path(config_dir / GROUPS_DIR / clash[0])}.csv; rename one",
        )
    by_id = {i.id: i for i in own.instruments}
    groups = dict(own.groups)
    for name in names:
        try:
            rows = replace[name] if name in replace else read_group_file(files[name], providers)
        except GroupFileError as exc:
            raise ConfigError(f"{exc.source} line {exc.line}", None, exc.reason) from None
        for row in rows:
            by_id.setdefault(row.id, row)
        groups[name] = [row.id for row in rows]
    groups.setdefault(ALL_GROUP, list(by_id))
    return Watchlist(instruments=list(by_id.values()), groups=groups)

"""The values on a job's command line, and what checking one reads from the settings.

Ray-free and settings-free: the settings are seen through small Protocols, so `core` stays
free of `configs` (DESIGN.md's folder table).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import Annotated, Any, Protocol

from pydantic import Field

from core.models import Capability


class UsageError(ValueError):
    """A bad argument: the job exits 2 naming it, before any work is scheduled."""


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with a request: the field (`tickers`, `start`, ...) and the message."""

    field: str
    message: str


class _Entry(Protocol):
    @property
    def id(self) -> str: ...


class WatchlistLike(Protocol):
    """What a request is checked against in `configs.sections.Watchlist`."""

    @property
    def instruments(self) -> Sequence[_Entry]: ...
    @property
    def groups(self) -> Mapping[str, list[str]]: ...


class ProvidersLike(Protocol):
    """What a request is checked against in `configs.sections.Providers`."""

    @property
    def providers(self) -> Mapping[str, Any]: ...
    @property
    def capabilities(self) -> Mapping[Capability, list[str]]: ...


class SettingsLike(Protocol):
    """What checking a request reads from `configs.settings.Settings`."""

    @property
    def watchlist(self) -> WatchlistLike: ...
    @property
    def providers(self) -> ProvidersLike: ...


Ticker = Annotated[str, Field(pattern=r"^[^,\s]([^,]*[^,\s])?$")]
"""A watchlist id or group name: no comma (it would split on the command line), nothing
around it (the command line strips it)."""
_WINDOW = re.compile(r"^(\d+)([mhd])$")


def csv_arg(text: str | None) -> list[str]:
    """`a,b, c` → ["a", "b", "c"]."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def capabilities_arg(text: str, allowed: Iterable[Capability] = Capability) -> list[Capability]:
    """Parse `--capabilities`; raise UsageError naming a value that is not allowed."""
    allowed = list(allowed)
    out = []
    for name in csv_arg(text):
        capability = Capability(name) if name in Capability._value2member_map_ else None
        if capability not in allowed:
            choices = ", ".join(c.value for c in allowed)
            raise UsageError(f"--capabilities: unknown capability {name!r} (choose from {choices})")
        out.append(capability)
    if not out:
        raise UsageError("--capabilities: give at least one")
    return out


def window_span(text: str) -> timedelta:
    """`24h`, `7d`, `90m` → timedelta; UsageError otherwise."""
    match = _WINDOW.match(text.strip())
    if not match or int(match[1]) == 0:
        raise UsageError(f"--window: {text!r} is not a window like 24h, 7d or 90m")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
    return timedelta(**{unit: int(match[1])})


def window_arg(text: str) -> str:
    """`text` if it is a window (see `window_span`); UsageError otherwise."""
    window_span(text)
    return text


def day_arg(text: str, flag: str) -> date:
    """`2024-01-31` → date; UsageError naming `flag` otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag}: {text!r} is not a date (YYYY-MM-DD)") from None


def word(value: Any) -> str:
    """A field's value as one command-line word."""
    if isinstance(value, list | tuple):
        return ",".join(word(v) for v in value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):  # 3600.0 → 3600; otherwise every digit, so it reads back
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def resolve_tickers(watchlist: WatchlistLike, names: Sequence[str] | None) -> list[str]:
    """The watchlist ids `names` (ids or group names) stand for, each once; all if none.
    UsageError names those not on the watchlist."""
    known = [i.id for i in watchlist.instruments]
    if not names:
        return known
    ids: list[str] = []
    for name in names:
        ids.extend(watchlist.groups.get(name, [name]))
    unknown = [t for t in ids if t not in set(known)]
    if unknown:
        raise UsageError(
            f"--tickers: unknown ticker {', '.join(unknown)} (not in watchlist.yaml; known: "
            f"{', '.join(known)})"
        )
    return list(dict.fromkeys(ids))

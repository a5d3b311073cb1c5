"""Keyset pages: rows ordered by (time, key) newest first, continued after the last one
shown. Stable while rows arrive, and no OFFSET scans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class After:
    """Where a page continues: after the row at (`at`, `key`) in (time, key) order."""

    at: datetime
    key: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Up to a page's limit of rows, and whether more follow."""

    items: list[T]
    more: bool


def page(rows: list[T], limit: int) -> Page[T]:
    """The first `limit` of `rows` (read with `limit + 1`, to know whether more follow)."""
    return Page(rows[:limit], len(rows) > limit)

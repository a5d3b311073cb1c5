"""Standard domain models shared by every provider, store and API.

Timestamps are timezone-aware UTC; the exchange's zone travels with the instrument.
Models are frozen slotted dataclasses: millions of bars flow through the writers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Capability(StrEnum):
    """What a provider can be asked for."""

    PRICES = "prices"
    NEWS = "news"
    DISCLOSURES = "disclosures"


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable instrument with its canonical id and per-provider symbols."""

    id: str
    name: str
    exchange: str
    currency: str
    timezone: str
    symbols: dict[str, str] = field(default_factory=dict)

    def symbol_for(self, provider: str) -> str:
        """The provider's symbol for this instrument (the canonical id when unmapped)."""
        return self.symbols.get(provider, self.id)


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar as traded (what printed), in the instrument's currency (major units).

    `ts` is the open of the bar's first session (daily/weekly/monthly) or the bar's start
    (intraday). `partial`: the period was still trading when fetched; replaced when final.
    Adjusted series are derived on read from `CorporateAction`s, never stored.
    """

    instrument_id: str
    interval: str
    ts: datetime
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: int | None
    provider: str
    partial: bool = False


@dataclass(frozen=True, slots=True)
class CorporateAction:
    """A split (`ratio` new/old shares) or cash dividend (`amount` per share as paid, in the
    instrument's currency) on its ex-date; `ratio` 4.0 is a 4-for-1 split."""

    instrument_id: str
    kind: str  # "split" | "dividend"
    ex_date: date
    ratio: float | None
    amount: float | None
    provider: str


@dataclass(frozen=True, slots=True)
class Article:
    """A news article; `fingerprint` is its dedupe key (normalised URL + title hash)."""

    fingerprint: str
    url: str
    title: str
    summary: str | None
    published_at: datetime
    provider: str
    language: str
    source: str | None = None
    instrument_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Disclosure:
    """A regulatory filing; `provider_id` is the provider's own receipt number."""

    provider: str
    provider_id: str
    instrument_id: str
    title: str
    filed_at: datetime
    filer: str | None = None
    url: str | None = None

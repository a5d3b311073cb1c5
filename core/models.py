"""Standard domain models shared by every provider, store and API.

Timestamps are timezone-aware UTC; the exchange's zone travels with the instrument.
Models are frozen slotted dataclasses: millions of bars flow through the writers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class Capability(StrEnum):
    """What a provider can be asked for."""

    PRICES = "prices"
    NEWS = "news"
    DISCLOSURES = "disclosures"
    FUNDAMENTALS = "fundamentals"


# What a collect run or schedule asks for when it names no capabilities: fundamentals change
# a few times a year and cost scarce calls (Alpha Vantage: 25 a day), so only when asked.
DEFAULT_CAPABILITIES = (Capability.PRICES, Capability.NEWS, Capability.DISCLOSURES)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable instrument with its canonical id and per-provider symbols."""

    id: str
    name: str
    exchange: str
    currency: str
    timezone: str
    symbols: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()  # other names news uses for it (core.matching)

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


@dataclass(frozen=True, slots=True)
class FinancialFact:
    """One reported figure: `account` (a canonical key, `core.fundamentals.ACCOUNTS`) of one
    `statement` (income | balance | cashflow) for the fiscal `period` ("2024FY", "2024Q1")
    ending `period_end`, consolidated or separate, as filed (`report_id`: DART's rcept_no)."""

    instrument_id: str
    period: str
    period_end: date
    statement: str
    account: str
    consolidated: bool
    value: Decimal
    currency: str
    provider: str
    report_id: str | None = None

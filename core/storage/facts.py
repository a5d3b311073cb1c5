"""Reading what a report's facts are computed from: daily price history, the filings and the
validated article verdicts of a window. Prices come as traded with their corporate actions;
`core.adjust` derives the adjusted series from them (see `core.analysis.facts`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import Bar, CorporateAction, Disclosure
from core.storage.bars import read_actions, read_bars
from core.storage.db import Db

HISTORY_DAYS = 380  # 52 weeks and a margin: the range and the 3-month return need that much


@dataclass(frozen=True, slots=True)
class Verdict:
    """One article's stored verdict for an instrument (the LLM's when there is one)."""

    fingerprint: str
    cache_key: str
    method: str
    sentiment: float
    label: str
    relevance: float | None
    title: str
    gist: str | None
    provider: str
    source: str | None
    published_at: datetime
    story_id: str | None = None  # None: its own story (`core.stories`)
    sources: int = 1  # articles of its story this verdict stands for (`one_per_story`)


@dataclass(frozen=True, slots=True)
class PriceHistory:
    """Daily bars as traded up to a window's end (oldest first) and the instrument's actions."""

    bars: list[Bar]
    actions: list[CorporateAction]


_VERDICTS = """
    SELECT DISTINCT ON (x.fingerprint) x.fingerprint, x.cache_key, x.method, x.sentiment,
           x.label, x.relevance, x.gist, ar.title, ar.provider, ar.source, ar.published_at,
           ar.story_id
    FROM analyses x JOIN articles ar ON ar.fingerprint = x.fingerprint
    WHERE x.instrument_id = $1 AND ar.published_at >= $2 AND ar.published_at < $3
      AND x.prompt_version = $4
    ORDER BY x.fingerprint, (x.method = 'llm') DESC, x.created_at DESC"""

_FILINGS = """
    SELECT provider, provider_id, instrument_id, title, filed_at, filer, url
    FROM disclosures WHERE instrument_id = $1 AND filed_at >= $2 AND filed_at < $3
    ORDER BY filed_at DESC, provider_id DESC"""


async def read_verdicts(
    db: Db, instrument_id: str, start: datetime, end: datetime, prompt_version: str
) -> list[Verdict]:
    """One verdict per article published in [start, end) under `prompt_version`, newest first."""
    rows = await db.fetch(_VERDICTS, instrument_id, start, end, prompt_version)
    verdicts = [Verdict(**dict(r)) for r in rows]
    return sorted(verdicts, key=lambda v: (v.published_at, v.fingerprint), reverse=True)


async def read_filings(
    db: Db, instrument_id: str, start: datetime, end: datetime
) -> list[Disclosure]:
    """The instrument's disclosures filed in [start, end), newest first."""
    return [Disclosure(**dict(r)) for r in await db.fetch(_FILINGS, instrument_id, start, end)]


async def read_price_history(db: Db, instrument_id: str, end: datetime) -> PriceHistory:
    """Daily bars of the HISTORY_DAYS before `end` (as traded) and every corporate action."""
    bars = await read_bars(db, instrument_id, "1d", end - timedelta(days=HISTORY_DAYS), end)
    return PriceHistory(bars, await read_actions(db, instrument_id))

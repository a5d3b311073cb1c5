"""Reports: publishing one (idempotent by its cache key) and reading them back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.storage.db import Db


@dataclass(frozen=True, slots=True)
class NewReport:
    """A report ready to publish; `facts` and claims are JSON-ready, citations fingerprints."""

    instrument_id: str
    cache_key: str
    window_start: datetime
    window_end: datetime
    method: str
    model: str | None
    prompt_version: str
    locale: str
    summary: str
    positives: list[dict[str, Any]]
    concerns: list[dict[str, Any]]
    outlook: str | None
    rating: str
    sentiment: float
    coverage: dict[str, Any]
    citations: list[str]
    facts: list[dict[str, Any]] = field(default_factory=list)
    model_rating: str | None = None
    rating_disagrees: bool = False
    dropped_claims: int = 0


_INSERT = """
    INSERT INTO reports (instrument_id, cache_key, window_start, window_end, method, model,
        prompt_version, locale, summary, positives, concerns, outlook, rating, sentiment,
        coverage, citations, facts, model_rating, rating_disagrees, dropped_claims, status,
        published_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            $19, $20, 'published', now())
    ON CONFLICT (cache_key) DO NOTHING RETURNING id"""


async def report_id_for_key(db: Db, cache_key: str) -> str | None:
    """The id of the report published under `cache_key`, if any."""
    found = await db.fetchval("SELECT id FROM reports WHERE cache_key = $1", cache_key)
    return None if found is None else str(found)


async def insert_report(db: Db, report: NewReport) -> str | None:
    """Publish `report`; None when one with its cache key exists already."""
    r = report
    found = await db.fetchval(
        _INSERT, r.instrument_id, r.cache_key, r.window_start, r.window_end, r.method, r.model,
        r.prompt_version, r.locale, r.summary, r.positives, r.concerns, r.outlook, r.rating,
        r.sentiment, r.coverage, r.citations, r.facts, r.model_rating, r.rating_disagrees,
        r.dropped_claims,
    )  # fmt: skip
    return None if found is None else str(found)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportRecord(NewReport):
    """A `reports` row, every column, as the API shows one report: the report as it was
    published, its id, status and times."""

    id: uuid.UUID
    status: str
    published_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredReport(ReportRecord):
    """A published report as chat reads it: the row, its id as text."""

    id: str  # the row's uuid, as text


@dataclass(frozen=True, slots=True)
class ReportListing:
    """A published report in a list: our rating beside the model's, without its claims."""

    id: uuid.UUID
    instrument_id: str
    method: str
    rating: str
    model_rating: str | None
    rating_disagrees: bool
    dropped_claims: int
    sentiment: float
    summary: str
    published_at: datetime


_COLUMNS = """
    id, instrument_id, cache_key, window_start, window_end, method, model, prompt_version,
    locale, summary, positives, concerns, outlook, rating, sentiment, coverage, citations,
    status, published_at, created_at, facts, model_rating, rating_disagrees, dropped_claims"""
_RECORD = f"SELECT {_COLUMNS} FROM reports WHERE id = $1"
_NEWEST = """
    FROM reports WHERE instrument_id = $1 AND status = 'published'
    ORDER BY published_at DESC LIMIT 1"""
_LATEST = f"SELECT {_COLUMNS} {_NEWEST}"
_LATEST_ID = f"SELECT id {_NEWEST}"
_PUBLISHED = """
    SELECT id, instrument_id, method, rating, model_rating, rating_disagrees,
           dropped_claims, sentiment, summary, published_at
    FROM reports WHERE status = 'published' AND ($1::text IS NULL OR instrument_id = $1)
    ORDER BY published_at DESC LIMIT $2"""


async def latest_published(db: Db, instrument_id: str) -> StoredReport | None:
    """The instrument's newest published report, or None."""
    row = await db.fetchrow(_LATEST, instrument_id)
    if row is None:
        return None
    return StoredReport(**{**dict(row), "id": str(row["id"]), "facts": list(row["facts"] or [])})


async def report_by_id(db: Db, report_id: uuid.UUID) -> ReportRecord | None:
    """The report with this id (published or not), or None."""
    row = await db.fetchrow(_RECORD, report_id)
    return None if row is None else ReportRecord(**dict(row))


async def latest_published_id(db: Db, instrument_id: str) -> uuid.UUID | None:
    """The id of the instrument's newest published report, or None."""
    return await db.fetchval(_LATEST_ID, instrument_id)


async def published(db: Db, instrument_id: str | None, limit: int) -> list[ReportListing]:
    """The newest `limit` published reports (of one instrument, when given), newest first."""
    return [ReportListing(**dict(r)) for r in await db.fetch(_PUBLISHED, instrument_id, limit)]

"""Financial statement figures, versioned (table `fundamentals`, migration 0017).

A fact is keyed by (instrument, period, statement, account, consolidated). Writing one whose
latest stored value differs (or that is new) adds the next version; the same value again adds
nothing, so a re-run changes nothing and a restatement keeps what was filed before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from core.models import FinancialFact
from core.storage.db import Db

_COLUMNS = (
    "instrument_id, period, period_end, statement, account, consolidated, value, currency, "
    "provider, report_id"
)
_WRITE = f"""
    WITH n AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[],
                             $6::boolean[], $7::numeric[], $8::text[], $9::text[], $10::text[])
            AS n({_COLUMNS}))
    INSERT INTO fundamentals ({_COLUMNS}, version)
    SELECT n.*, coalesce(cur.version, 0) + 1
    FROM n LEFT JOIN LATERAL (
        SELECT f.version, f.value FROM fundamentals f
        WHERE f.instrument_id = n.instrument_id AND f.period = n.period
          AND f.statement = n.statement AND f.account = n.account
          AND f.consolidated = n.consolidated
        ORDER BY f.version DESC LIMIT 1) cur ON true
    WHERE cur.version IS NULL OR cur.value <> n.value
    ON CONFLICT DO NOTHING
    RETURNING version"""
_FILTER = """
    WHERE instrument_id = $1 AND ($2::text IS NULL OR statement = $2)
      AND ($3::date IS NULL OR period_end >= $3) AND ($4::date IS NULL OR period_end <= $4)"""
_READ_ALL = f"""
    SELECT {_COLUMNS}, version, fetched_at FROM fundamentals {_FILTER}
    ORDER BY period_end, statement, account, consolidated DESC, version"""
_READ_LATEST = f"""
    SELECT * FROM (
        SELECT DISTINCT ON (period, statement, account, consolidated)
               {_COLUMNS}, version, fetched_at
        FROM fundamentals {_FILTER}
        ORDER BY period, statement, account, consolidated, version DESC) AS latest
    ORDER BY period_end, statement, account, consolidated DESC"""
_NEWEST_END = "SELECT max(period_end) FROM fundamentals WHERE instrument_id = $1"


@dataclass(frozen=True, slots=True)
class StoredFact:
    """A fact as stored: its version (1 = first filed) and when it was fetched."""

    fact: FinancialFact
    version: int
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class FactWrite:
    """Of `given` facts, `new` were first seen and `restated` added a later version."""

    given: int
    new: int
    restated: int


def _key(fact: FinancialFact) -> tuple[str, str, str, str, bool]:
    return (fact.instrument_id, fact.period, fact.statement, fact.account, fact.consolidated)


async def write_facts(conn: asyncpg.Connection, facts: Sequence[FinancialFact]) -> FactWrite:
    """Store what is new or changed (the last of repeats in `facts` wins)."""
    unique = list({_key(f): f for f in facts}.values())
    if not unique:
        return FactWrite(len(facts), 0, 0)
    columns = [
        [getattr(f, name.strip()) for f in unique] for name in _COLUMNS.split(",")
    ]  # fmt: skip
    rows = await conn.fetch(_WRITE, *columns)
    new = sum(1 for r in rows if r["version"] == 1)
    return FactWrite(len(facts), new, len(rows) - new)


async def read_facts(
    db: Db,
    instrument_id: str,
    *,
    statement: str | None = None,
    start: date | None = None,
    end: date | None = None,
    all_versions: bool = False,
) -> list[StoredFact]:
    """The instrument's facts with `start <= period_end <= end`, oldest period first: the
    latest version of each, or every version (oldest first) with `all_versions`."""
    query = _READ_ALL if all_versions else _READ_LATEST
    rows = await db.fetch(query, instrument_id, statement, start, end)
    out = []
    for row in rows:
        values = dict(row)
        version, fetched_at = values.pop("version"), values.pop("fetched_at")
        out.append(StoredFact(FinancialFact(**values), version, fetched_at))
    return out


async def newest_period_end(db: Db, instrument_id: str) -> date | None:
    """The end of the latest period stored for the instrument (None: nothing stored)."""
    return await db.fetchval(_NEWEST_END, instrument_id)

"""Collection watermarks: how far each (instrument, capability, provider) is covered.

A watermark only moves forward. Advance it in the same transaction as the rows it covers,
so it never claims data that did not commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

_ADVANCE = """
    WITH moved AS (
        INSERT INTO watermarks AS w (instrument_id, capability, provider, covered_until)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (instrument_id, capability, provider) DO UPDATE
            SET covered_until = EXCLUDED.covered_until, updated_at = now()
            WHERE w.covered_until < EXCLUDED.covered_until
        RETURNING covered_until)
    SELECT max(c) FROM (
        SELECT covered_until FROM moved
        UNION ALL
        SELECT covered_until FROM watermarks
        WHERE instrument_id = $1 AND capability = $2 AND provider = $3) AS both_(c)"""


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"watermarks are timezone-aware UTC; got naive {value!r}")
    return value


async def advance(
    conn: asyncpg.Connection,
    instrument_id: str,
    capability: str,
    provider: str,
    covered_until: datetime,
) -> datetime:
    """Move the watermark to `covered_until` unless it is already later; return it after."""
    return await conn.fetchval(
        _ADVANCE, instrument_id, str(capability), provider, _aware(covered_until)
    )


async def get(
    conn: asyncpg.Connection, instrument_id: str, capability: str, provider: str
) -> datetime | None:
    """One provider's watermark, or None when it never collected this."""
    return await conn.fetchval(
        """SELECT covered_until FROM watermarks
           WHERE instrument_id = $1 AND capability = $2 AND provider = $3""",
        instrument_id,
        str(capability),
        provider,
    )


async def latest(conn: asyncpg.Connection, instrument_id: str, capability: str) -> datetime | None:
    """The furthest watermark over all providers: collection resumes from here."""
    return await conn.fetchval(
        "SELECT max(covered_until) FROM watermarks WHERE instrument_id = $1 AND capability = $2",
        instrument_id,
        str(capability),
    )


async def latest_many(
    conn: asyncpg.Connection, instrument_ids: list[str], capability: str
) -> dict[str, datetime]:
    """`latest` for many instruments in one query; those never collected are absent."""
    rows = await conn.fetch(
        """SELECT instrument_id, max(covered_until) AS until FROM watermarks
           WHERE instrument_id = ANY($1::text[]) AND capability = $2
           GROUP BY instrument_id""",
        instrument_ids,
        str(capability),
    )
    return {r["instrument_id"]: r["until"] for r in rows}


@dataclass(frozen=True, slots=True)
class Freshness:
    """When an instrument's data of a capability last advanced, any provider (Unix time)."""

    instrument_id: str
    capability: str
    at: float


async def last_advances(db: asyncpg.Connection | asyncpg.Pool) -> list[Freshness]:
    """Per (instrument, capability): when its newest watermark last moved."""
    rows = await db.fetch(
        "SELECT instrument_id, capability, extract(epoch FROM max(updated_at)) AS at "
        "FROM watermarks GROUP BY 1, 2"
    )
    return [Freshness(r["instrument_id"], r["capability"], float(r["at"])) for r in rows]

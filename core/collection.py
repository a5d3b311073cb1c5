"""Storing what a provider returned: lake, Postgres rows and watermark, in a safe order.

Order per batch: the Parquet lake first (idempotent, rewritten by key; in a thread, so a
file's read, merge and fsync do not hold the caller's event loop), then one Postgres
transaction holding the rows and the watermark. A crash anywhere leaves the watermark
behind the rows it covers, so a re-run fetches them again and the writes change nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import asyncpg

from core.faults import fault_point
from core.models import Article, Capability, Disclosure, FinancialFact
from core.providers import PriceSeries
from core.storage import stories, watermarks
from core.storage.dedupe import Dedupe
from core.storage.fundamentals import write_facts
from core.storage.lake import Lake
from core.storage.writers import (
    WriteResult,
    linked_fingerprints,
    write_articles,
    write_bars,
    write_corporate_actions,
    write_disclosures,
)

# How far back the first collection of an instrument reaches, per capability.
FIRST_LOOKBACK = {
    Capability.PRICES: timedelta(days=365),
    Capability.NEWS: timedelta(days=7),
    Capability.DISCLOSURES: timedelta(days=90),
    # The latest five quarters or so, every time (not from the watermark): a restated recent
    # period is fetched again; older periods come by backfill.
    Capability.FUNDAMENTALS: timedelta(days=460),
}
INTRADAY_FIRST_LOOKBACK = timedelta(days=5)
# Extra work committed in the same transaction as the rows (a backfill's checkpoint).
Also = Callable[[asyncpg.Connection], Awaitable[None]] | None


@dataclass
class Counts:
    """`fetched` from providers, `unique` after dedupe (written), `saved` rows inserted or
    changed, `known` articles found already stored (checked in the database), `repeated`
    repeats within one fetch: for news, fetched = unique + known + repeated."""

    fetched: int = 0
    unique: int = 0
    saved: int = 0
    known: int = 0
    repeated: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self

    def as_dict(self) -> dict[str, int]:
        """JSON-ready counts."""
        return asdict(self)


def watermark_key(capability: Capability, interval: str | None = None) -> str:
    """Watermark capability name; prices are tracked per interval."""
    return f"prices:{interval}" if capability is Capability.PRICES else capability.value


def collect_window(
    capability: Capability, covered_until: datetime | None, now: datetime, interval: str = "1d"
) -> tuple[datetime, datetime]:
    """[start, end) to fetch: from the watermark (inclusive, so a corrected last row is
    fetched again) or the first-run lookback, up to now."""
    if covered_until is not None and capability is not Capability.FUNDAMENTALS:
        return covered_until, now
    lookback = FIRST_LOOKBACK[capability]
    if capability is Capability.PRICES and interval != "1d":
        lookback = INTRADAY_FIRST_LOOKBACK
    return now - lookback, now


async def _commit(
    conn: asyncpg.Connection,
    write: Callable[[], Awaitable[WriteResult]],
    mark: tuple[str, str, str, datetime] | None,
    also: Also,
) -> WriteResult:
    """One transaction: the rows, then the watermark `mark` (instrument, capability,
    provider, covered until) when rows came, then `also`."""
    async with conn.transaction():
        result = await write()
        if mark is not None:
            await watermarks.advance(conn, *mark)
        if also is not None:
            await also(conn)
    return result


async def save_prices(
    conn: asyncpg.Connection,
    lake: Lake | None,
    series: PriceSeries,
    covered_until: datetime,
    also: Also = None,
) -> Counts:
    """Bars and corporate actions of one fetch; the watermark moves to `covered_until`."""
    bars = list(series.bars)
    if lake is not None and series.actions:
        await asyncio.to_thread(lake.write_actions, series.actions)
    if lake is not None and bars:
        await asyncio.to_thread(lake.write_bars, bars)

    async def write() -> WriteResult:
        await write_corporate_actions(conn, list(series.actions))
        return await write_bars(conn, bars)

    key = watermark_key(Capability.PRICES, series.interval)
    until = min(covered_until, max(b.ts for b in bars)) if bars else None
    mark = (series.instrument_id, key, series.provider, until) if bars else None
    result = await _commit(conn, write, mark, also)
    return Counts(len(bars), len(bars), result.inserted + result.updated)


async def _write_news(conn: asyncpg.Connection, articles: list[Article]) -> WriteResult:
    """The articles and their links, then story ids for the new ones (`core.stories`)."""
    result = await write_articles(conn, articles)
    await stories.assign(conn, articles)
    return result


async def save_news(
    conn: asyncpg.Connection,
    lake: Lake | None,
    instrument_id: str,
    provider: str,
    articles: list[Article],
    dedupe: Dedupe,
    also: Also = None,
    fresh_out: list[Article] | None = None,
) -> Counts:
    """Articles not yet stored for this instrument; claims are released if the write fails.

    Dedupe keys are fingerprint + instrument: the same story found for a second instrument
    must still link to it. A claim only saves work, the database is the truth: a writer
    killed between its claim and its commit leaves claims for rows never stored, so the
    articles whose keys were already claimed are looked up, and those not stored are
    written here. `fresh_out`, if given, receives the articles written here once they are
    committed (what the collector announces as `article` events).
    """
    keys = [f"{a.fingerprint}:{instrument_id}" for a in articles]
    fresh_flags = await dedupe.first_seen(keys)
    fresh = [a for a, new in zip(articles, fresh_flags, strict=True) if new]
    claimed = [k for k, new in zip(keys, fresh_flags, strict=True) if new]
    fresh_fps = {a.fingerprint for a in fresh}
    others = {a.fingerprint: a for a in articles if a.fingerprint not in fresh_fps}
    stored = await linked_fingerprints(conn, instrument_id, list(others)) if others else set()
    orphaned = [a for fp, a in others.items() if fp not in stored]  # a dead writer's claims
    fault_point("news.claimed")
    newest = max((a.published_at for a in articles), default=None)
    mark = (instrument_id, Capability.NEWS.value, provider, newest) if articles else None
    write = fresh + orphaned
    try:
        if lake is not None and write:
            await asyncio.to_thread(lake.write_articles, write)
        result = await _commit(conn, lambda: _write_news(conn, write), mark, also)
    except BaseException:
        await dedupe.forget(claimed)
        raise
    if fresh_out is not None:
        fresh_out.extend(write)
    counts = Counts(len(articles), len(write), result.inserted, len(stored))
    counts.repeated = counts.fetched - counts.unique - counts.known
    return counts


async def save_disclosures(
    conn: asyncpg.Connection,
    instrument_id: str,
    provider: str,
    disclosures: list[Disclosure],
    also: Also = None,
) -> Counts:
    """Filings of one fetch, keyed by the provider's receipt number."""
    newest = max((d.filed_at for d in disclosures), default=None)
    capability = Capability.DISCLOSURES.value
    mark = (instrument_id, capability, provider, newest) if disclosures else None
    result = await _commit(conn, lambda: write_disclosures(conn, disclosures), mark, also)
    return Counts(len(disclosures), len(disclosures), result.inserted + result.updated)


async def save_fundamentals(
    conn: asyncpg.Connection,
    instrument_id: str,
    provider: str,
    facts: list[FinancialFact],
    covered_until: datetime,
    also: Also = None,
) -> Counts:
    """Statement figures of one fetch over periods ending up to `covered_until`: new ones
    and restatements get a version. The watermark moves to `covered_until` even when no
    period was filed (a company reports a few times a year; a schedule that checked is not
    stale)."""
    async with conn.transaction():
        written = await write_facts(conn, facts)
        await watermarks.advance(
            conn, instrument_id, Capability.FUNDAMENTALS.value, provider, covered_until
        )
        if also is not None:
            await also(conn)
    return Counts(len(facts), len(facts), written.new + written.restated)

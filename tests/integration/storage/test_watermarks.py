"""Watermarks move only forward and only with their transaction; backfill checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from core.models import Capability
from core.storage import checkpoints, watermarks
from core.storage.writers import write_bars
from tests.unit.storage.samples import daily_bars

T0 = datetime(2024, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


async def test_watermark_only_moves_forward(conn: asyncpg.Connection) -> None:
    prices = Capability.PRICES
    assert await watermarks.get(conn, "AAPL", prices, "yahoo") is None
    assert await watermarks.latest(conn, "AAPL", prices) is None
    assert await watermarks.advance(conn, "AAPL", prices, "yahoo", T0) == T0
    assert await watermarks.advance(conn, "AAPL", prices, "yahoo", T0 - DAY) == T0
    assert await watermarks.get(conn, "AAPL", prices, "yahoo") == T0
    assert await watermarks.advance(conn, "AAPL", prices, "yahoo", T0 + DAY) == T0 + DAY
    assert await watermarks.get(conn, "AAPL", "prices", "yahoo") == T0 + DAY


async def test_latest_is_the_furthest_provider(conn: asyncpg.Connection) -> None:
    await watermarks.advance(conn, "AAPL", "prices", "yahoo", T0)
    await watermarks.advance(conn, "AAPL", "prices", "alphavantage", T0 + 2 * DAY)
    await watermarks.advance(conn, "AAPL", "news", "newsapi", T0 + 9 * DAY)
    await watermarks.advance(conn, "MSFT", "prices", "yahoo", T0 + 5 * DAY)
    assert await watermarks.latest(conn, "AAPL", "prices") == T0 + 2 * DAY
    assert await watermarks.get(conn, "AAPL", "prices", "yahoo") == T0


async def test_a_rolled_back_write_leaves_the_watermark(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await write_bars(conn, daily_bars(n=3))
        await watermarks.advance(conn, "AAPL", "prices", "yahoo", T0)
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            await write_bars(conn, daily_bars(n=10))
            await watermarks.advance(conn, "AAPL", "prices", "yahoo", T0 + 7 * DAY)
            raise RuntimeError("commit never happens")
    assert await watermarks.get(conn, "AAPL", "prices", "yahoo") == T0
    assert await conn.fetchval("SELECT count(*) FROM bars") == 3


async def test_naive_times_are_refused(conn: asyncpg.Connection) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await watermarks.advance(conn, "AAPL", "prices", "yahoo", datetime(2024, 1, 1))


async def test_checkpoints_record_done_chunks(conn: asyncpg.Connection) -> None:
    chunk = dict(capability="prices", interval="1d", rows=250, provider="yahoo", error=None)
    await checkpoints.mark_chunk(
        conn, "bf1", "AAPL", period_start=T0, period_end=T0 + 30 * DAY, status="done", **chunk
    )
    await checkpoints.mark_chunk(
        conn, "bf1", "MSFT", period_start=T0, period_end=T0 + 30 * DAY, status="failed",
        **{**chunk, "rows": 0, "error": "Unavailable: 503"},
    )  # fmt: skip
    await checkpoints.mark_chunk(
        conn, "bf2", "MSFT", period_start=T0, period_end=T0 + 30 * DAY, status="done", **chunk
    )
    assert await checkpoints.done_chunks(conn, "bf1") == {("AAPL", "prices", T0)}
    # The retry of the failed chunk replaces its row.
    await checkpoints.mark_chunk(
        conn, "bf1", "MSFT", period_start=T0, period_end=T0 + 30 * DAY, status="done", **chunk
    )
    assert await checkpoints.done_chunks(conn, "bf1") == {
        ("AAPL", "prices", T0),
        ("MSFT", "prices", T0),
    }
    row = await conn.fetchrow("SELECT rows, error FROM backfill_chunks WHERE instrument_id='MSFT'"
                              " AND backfill_id='bf1'")  # fmt: skip
    assert (row["rows"], row["error"]) == (250, None)
    assert await checkpoints.done_chunks(conn, "unknown") == set()

"""Reading bars, actions and dividend reference closes from a real Postgres."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from core.adjust import adjust
from core.models import Bar, CorporateAction, Instrument
from core.storage import bars as repo
from core.storage.db import sync_instruments

BHP = Instrument("BHP.AX", "BHP Group", "ASX", "AUD", "Australia/Sydney", {"yahoo": "BHP.AX"})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def _bars(conn: asyncpg.Connection, bars: list[Bar]) -> None:
    # Plain INSERTs: these tests read, so they do not lean on the writers.
    await conn.executemany(
        """INSERT INTO bars (instrument_id, interval, ts, open, high, low, close, volume,
                             provider, partial) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        [(b.instrument_id, b.interval, b.ts, b.open, b.high, b.low, b.close, b.volume,
          b.provider, b.partial) for b in bars],
    )  # fmt: skip


async def _actions(conn: asyncpg.Connection, actions: list[CorporateAction]) -> None:
    await conn.executemany(
        """INSERT INTO corporate_actions (instrument_id, kind, ex_date, ratio, amount, provider)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        [(a.instrument_id, a.kind, a.ex_date, a.ratio, a.amount, a.provider) for a in actions],
    )


def daily(instrument_id: str, ts: datetime, close: float | None, **kw) -> Bar:
    return Bar(
        instrument_id, kw.pop("interval", "1d"), ts, close, close, close, close, 100, "yahoo", **kw
    )


async def test_instrument_is_read_as_a_model(conn: asyncpg.Connection) -> None:
    aapl = await repo.instrument(conn, "AAPL")
    assert aapl == Instrument("AAPL", "Apple", "NASDAQ", "USD", "America/New_York")
    assert await repo.instrument(conn, "TSLA") is None


async def test_bars_in_a_half_open_range_of_one_interval(conn: asyncpg.Connection) -> None:
    t0 = utc(2024, 3, 4, 14, 30)
    rows = [daily("AAPL", t0 + timedelta(days=d), 100.0 + d) for d in range(5)]
    rows += [daily("AAPL", t0 + timedelta(days=5), 105.5, partial=True)]
    rows += [daily("AAPL", t0, 99.0, interval="1wk"), daily("MSFT", t0, 400.0)]
    await _bars(conn, list(reversed(rows)))
    got = await repo.read_bars(conn, "AAPL", "1d", t0 + timedelta(days=1), t0 + timedelta(days=6))
    assert got == rows[1:6]  # start included, end excluded, oldest first, models
    assert [b.partial for b in got] == [False] * 4 + [True]
    assert await repo.read_bars(conn, "AAPL", "1h", t0, t0 + timedelta(days=9)) == []


async def test_actions_oldest_first(conn: asyncpg.Connection) -> None:
    actions = [
        CorporateAction("AAPL", "dividend", date(2024, 5, 10), None, 0.25, "yahoo"),
        CorporateAction("AAPL", "split", date(2020, 8, 31), 4.0, None, "yahoo"),
        CorporateAction("MSFT", "split", date(2003, 2, 18), 2.0, None, "yahoo"),
    ]
    await _actions(conn, actions)
    assert await repo.read_actions(conn, "AAPL") == [actions[1], actions[0]]
    assert await repo.read_actions(conn, "005930.KS") == []


async def test_previous_closes_stop_at_the_ex_dates_midnight_in_the_exchanges_zone(
    conn: asyncpg.Connection,
) -> None:
    await sync_instruments(conn, [BHP])
    # ASX opens 10:00 Sydney = 23:00 UTC the day before (AEDT)
    await _bars(conn, [
        daily("BHP.AX", utc(2024, 3, 4, 23), 44.0),  # trading day 03-05
        daily("BHP.AX", utc(2024, 3, 5, 23), 45.0),  # 03-06: the last session before 03-07
        daily("BHP.AX", utc(2024, 3, 6, 23), 43.9),  # 03-07: ex-date (after UTC midnight)
        daily("BHP.AX", utc(2024, 3, 6, 12), 99.0, interval="1h"),  # not a daily bar
        daily("AAPL", utc(2024, 3, 6, 14, 30), 170.0),  # another instrument
    ])  # fmt: skip
    await _actions(conn, [
        CorporateAction("BHP.AX", "dividend", date(2024, 3, 7), None, 1.1, "yahoo"),
        CorporateAction("BHP.AX", "dividend", date(2024, 9, 5), None, 0.9, "yahoo"),  # no bars
        CorporateAction("BHP.AX", "dividend", date(2024, 4, 10), None, 0.5, "yahoo"),  # stale
        CorporateAction("BHP.AX", "split", date(2024, 3, 6), 2.0, None, "yahoo"),
    ])  # fmt: skip
    closes = await repo.previous_closes(conn, "BHP.AX")
    # 2024-04-10: the newest daily bar is 34 days older than the ex-date: a gap, not a close
    assert closes == {date(2024, 3, 7): 45.0, date(2024, 4, 10): None, date(2024, 9, 5): None}


async def test_a_null_close_is_passed_over(conn: asyncpg.Connection) -> None:
    await _bars(conn, [
        daily("AAPL", utc(2024, 5, 8, 13, 30), 182.0),
        daily("AAPL", utc(2024, 5, 9, 13, 30), None),
    ])  # fmt: skip
    await _actions(conn, [CorporateAction("AAPL", "dividend", date(2024, 5, 10), None, 0.25, "x")])
    assert await repo.previous_closes(conn, "AAPL") == {date(2024, 5, 10): 182.0}


async def test_stored_bars_and_actions_adjust_to_a_continuous_series(
    conn: asyncpg.Connection,
) -> None:
    opens = [utc(2020, 8, d, 13, 30) for d in (27, 28, 31)]
    await _bars(
        conn, [daily("AAPL", t, c) for t, c in zip(opens, [500.0, 500.0, 124.0], strict=True)]
    )
    await _actions(conn, [
        CorporateAction("AAPL", "split", date(2020, 8, 31), 4.0, None, "yahoo"),
        CorporateAction("AAPL", "dividend", date(2020, 8, 28), None, 0.82, "yahoo"),
    ])  # fmt: skip
    rows = await repo.read_bars(conn, "AAPL", "1d", opens[0], opens[-1] + timedelta(days=1))
    actions = await repo.read_actions(conn, "AAPL")
    closes = await repo.previous_closes(conn, "AAPL")
    assert closes == {date(2020, 8, 28): 500.0}
    result = adjust(rows, actions, closes, "all", "America/New_York")
    assert [b.close for b in result.bars] == pytest.approx([124.795, 125.0, 124.0])
    assert [a.kind for a in result.applied] == ["dividend", "split"]

"""Postgres writers: idempotent, exact counts, in the caller's transaction."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date

import asyncpg
import pytest

from core.models import CorporateAction, Disclosure
from core.storage.db import connect
from core.storage.writers import (
    UnknownInstrument,
    WriteResult,
    write_articles,
    write_bars,
    write_corporate_actions,
    write_disclosures,
)
from tests.unit.storage.samples import T0, article, daily_bars


async def _table(conn: asyncpg.Connection, table: str, order: str) -> list[tuple]:
    return [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY {order}")]


async def test_writing_a_batch_twice_changes_nothing(conn: asyncpg.Connection) -> None:
    bars = daily_bars("AAPL") + daily_bars("MSFT", start=300.0)
    first = await write_bars(conn, bars)
    assert first == WriteResult(received=100, inserted=100, updated=0)
    before = await _table(conn, "bars", "instrument_id, interval, ts")
    second = await write_bars(conn, bars)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 100)
    assert await _table(conn, "bars", "instrument_id, interval, ts") == before  # fetched_at too


async def test_a_corrected_bar_updates_exactly_its_row(conn: asyncpg.Connection) -> None:
    bars = daily_bars()
    await write_bars(conn, bars)
    before = {r[:3]: r for r in await _table(conn, "bars", "ts")}
    corrected = replace(bars[10], close=999.0, provider="alphavantage")
    result = await write_bars(conn, [*bars[5:15], corrected])
    assert (result.received, result.inserted, result.updated) == (11, 0, 1)
    after = {r[:3]: r for r in await _table(conn, "bars", "ts")}
    changed = [k for k in after if after[k] != before[k]]
    assert changed == [("AAPL", "1d", bars[10].ts)]
    row = await conn.fetchrow("SELECT close, provider FROM bars WHERE ts = $1", bars[10].ts)
    assert (row["close"], row["provider"]) == (999.0, "alphavantage")


async def test_same_values_from_another_provider_are_no_change(conn: asyncpg.Connection) -> None:
    bars = daily_bars(n=5)
    await write_bars(conn, bars)
    again = await write_bars(conn, [replace(b, provider="alphavantage") for b in bars])
    assert again.unchanged == 5
    assert await conn.fetchval("SELECT DISTINCT provider FROM bars") == "yahoo"


async def test_repeated_keys_in_one_batch_keep_the_last(conn: asyncpg.Connection) -> None:
    bars = daily_bars(n=3)
    batch = [bars[0], replace(bars[0], close=1.0), bars[1], replace(bars[0], close=2.0), bars[2]]
    result = await write_bars(conn, batch)
    assert (result.received, result.inserted, result.updated, result.unchanged) == (5, 3, 0, 2)
    assert await conn.fetchval("SELECT close FROM bars WHERE ts = $1", bars[0].ts) == 2.0


async def test_unknown_instrument_fails_clearly_and_writes_nothing(
    conn: asyncpg.Connection,
) -> None:
    with pytest.raises(UnknownInstrument, match="'NOPE' is not in the instruments table") as err:
        await write_bars(conn, daily_bars("AAPL", n=3) + daily_bars("NOPE", n=2))
    assert (err.value.table, err.value.instrument_id) == ("bars", "NOPE")
    assert await conn.fetchval("SELECT count(*) FROM bars") == 0
    with pytest.raises(UnknownInstrument, match="NOPE"):
        await write_articles(conn, [article("f1", "AAPL", "NOPE")])


async def test_writes_join_the_callers_transaction(conn: asyncpg.Connection) -> None:
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            assert (await write_bars(conn, daily_bars(n=10))).inserted == 10
            assert (await write_bars(conn, daily_bars(n=20))).inserted == 10
            raise RuntimeError("job failed after writing")
    assert await conn.fetchval("SELECT count(*) FROM bars") == 0
    async with conn.transaction():
        await write_bars(conn, daily_bars(n=10))
        await write_bars(conn, daily_bars("MSFT", n=10))
    assert await conn.fetchval("SELECT count(*) FROM bars") == 20


async def test_empty_batches(conn: asyncpg.Connection) -> None:
    for write in (write_bars, write_articles, write_disclosures, write_corporate_actions):
        assert await write(conn, []) == WriteResult(0, 0, 0)


async def test_articles_and_links_are_idempotent(conn: asyncpg.Connection) -> None:
    batch = [
        article("f1", "AAPL"),
        article("f2", "AAPL", "MSFT"),
        article("f1", "MSFT"),
    ]
    first = await write_articles(conn, batch)
    assert (first.received, first.inserted, first.updated) == (3, 2, 0)
    links = await _table(conn, "article_instruments", "1, 2")
    assert links == [("f1", "AAPL"), ("f1", "MSFT"), ("f2", "AAPL"), ("f2", "MSFT")]
    before = await _table(conn, "articles", "fingerprint")
    second = await write_articles(conn, batch)
    assert (second.inserted, second.updated) == (0, 0)
    assert await _table(conn, "articles", "fingerprint") == before
    assert await _table(conn, "article_instruments", "1, 2") == links
    retitled = await write_articles(conn, [article("f2", "005930.KS", title="Apple, again")])
    assert (retitled.inserted, retitled.updated) == (0, 1)
    assert len(await _table(conn, "article_instruments", "1, 2")) == 5  # links accumulate


async def test_disclosures(conn: asyncpg.Connection) -> None:
    filings = [
        Disclosure("dart", f"2024000{i}", "005930.KS", f"Report {i}", T0, "Samsung", None)
        for i in range(4)
    ]
    assert (await write_disclosures(conn, filings)).inserted == 4
    assert (await write_disclosures(conn, filings)).unchanged == 4
    fixed = replace(filings[2], url="https://dart.example/3")
    assert await write_disclosures(conn, [fixed, filings[0]]) == WriteResult(2, 0, 1)
    same_id_other_provider = replace(filings[0], provider="sec")
    assert (await write_disclosures(conn, [same_id_other_provider])).inserted == 1


async def test_corporate_actions(conn: asyncpg.Connection) -> None:
    actions = [
        CorporateAction("AAPL", "split", date(2020, 8, 31), 4.0, None, "yahoo"),
        CorporateAction("AAPL", "dividend", date(2024, 2, 9), None, 0.24, "yahoo"),
    ]
    assert (await write_corporate_actions(conn, actions)).inserted == 2
    assert (await write_corporate_actions(conn, actions)).unchanged == 2
    raised = replace(actions[1], amount=0.25)
    assert await write_corporate_actions(conn, [raised]) == WriteResult(1, 0, 1)


async def test_concurrent_overlapping_writers_queue_instead_of_deadlocking(
    conn: asyncpg.Connection, fresh_dsn: str
) -> None:
    other = await connect(fresh_dsn)
    bars = daily_bars("AAPL", n=4000) + daily_bars("MSFT", n=4000)
    changed = [replace(b, close=b.close + 1) for b in bars]

    async def write(c: asyncpg.Connection, batch: list) -> WriteResult:
        async with c.transaction():
            result = await write_bars(c, batch)
            await asyncio.sleep(0.05)  # hold the row locks while the other writer runs
            return result

    try:
        # Opposite input orders: without key-ordered merging these two would deadlock.
        first, second = await asyncio.gather(write(conn, bars), write(other, changed[::-1]))
    finally:
        await other.close()
    assert first.inserted + second.inserted == 8000
    assert first.updated + second.updated == 8000  # whoever came second changed every row
    assert await conn.fetchval("SELECT count(*) FROM bars") == 8000

"""The versioned statement figures on real Postgres: idempotent writes, restatements as new
versions, latest and all versions read back with their filters."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import asyncpg
import pytest

from core.models import FinancialFact
from core.storage.fundamentals import newest_period_end, read_facts, write_facts

REVENUE = FinancialFact("005930.KS", "2024FY", date(2024, 12, 31), "income", "revenue", True,
                        Decimal("300870903000000"), "KRW", "dart", "20250311001085")  # fmt: skip
ASSETS = replace(REVENUE, statement="balance", account="total_assets",
                 value=Decimal("514531948000000"))  # fmt: skip
SEPARATE = replace(REVENUE, consolidated=False, value=Decimal("209052241000000"))
Q3 = replace(REVENUE, period="2024Q3", period_end=date(2024, 9, 30), value=Decimal(79 * 10**12))


async def test_rewrite_adds_nothing_and_a_restatement_adds_a_version(
    conn: asyncpg.Connection,
) -> None:
    first = await write_facts(conn, [REVENUE, ASSETS, SEPARATE, Q3])
    assert (first.new, first.restated) == (4, 0)
    again = await write_facts(conn, [REVENUE, ASSETS, SEPARATE, Q3])
    assert (again.new, again.restated) == (0, 0)
    amended = replace(REVENUE, value=Decimal("301000000000000"), report_id="20250410000001")
    later = await write_facts(conn, [amended, ASSETS])
    assert (later.new, later.restated) == (0, 1)
    assert (await write_facts(conn, [amended])).restated == 0  # the restated value again

    latest = await read_facts(conn, "005930.KS")
    assert [(s.fact.period, s.fact.account, s.fact.consolidated, s.version) for s in latest] == [
        ("2024Q3", "revenue", True, 1),
        ("2024FY", "total_assets", True, 1),
        ("2024FY", "revenue", True, 2),
        ("2024FY", "revenue", False, 1),
    ]  # oldest period first; then statement, account, consolidated before separate
    revenue = [s for s in latest if s.fact.account == "revenue" and s.fact.period == "2024FY"]
    assert revenue[0].fact == amended  # value and filing of the amendment, exactly

    every = await read_facts(conn, "005930.KS", statement="income", start=date(2024, 12, 1),
                             all_versions=True)  # fmt: skip
    assert [(s.fact.value, s.version, s.fact.consolidated) for s in every] == [
        (Decimal("300870903000000"), 1, True),
        (Decimal("301000000000000"), 2, True),
        (Decimal("209052241000000"), 1, False),
    ]
    assert await read_facts(conn, "005930.KS", end=date(2024, 6, 30)) == []
    assert await newest_period_end(conn, "005930.KS") == date(2024, 12, 31)
    assert await newest_period_end(conn, "AAPL") is None


async def test_unknown_instrument_and_bad_period_are_refused(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await write_facts(conn, [replace(REVENUE, instrument_id="NOPE")])
    with pytest.raises(asyncpg.CheckViolationError):
        await write_facts(conn, [replace(REVENUE, period="2024H1")])
    assert await read_facts(conn, "005930.KS") == []  # nothing half-written

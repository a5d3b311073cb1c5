"""Report facts from financial statements: year-on-year revenue growth and operating margin."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.analysis.fundamental_facts import fundamental_facts
from core.models import FinancialFact


def fact(period: str, account: str, value: int, consolidated: bool = True) -> FinancialFact:
    year, rest = int(period[:4]), period[4:]
    ends = date(year, 12, 31) if rest == "FY" else date(year, 3 * int(rest[1]), 28)
    statement = "income"
    return FinancialFact("005930.KS", period, ends, statement, account, consolidated,
                         Decimal(value), "KRW", "dart", "r")  # fmt: skip


def test_growth_and_margin_of_the_latest_period_with_the_figures() -> None:
    found = fundamental_facts([
        fact("2024Q3", "revenue", 200), fact("2025Q3", "revenue", 230),
        fact("2025Q3", "operating_income", 23), fact("2026Q1", "revenue", 250),
        fact("2026Q1", "revenue", 999, consolidated=False),  # separate: not the basis
    ])  # fmt: skip
    growth, margin = found
    # 2026Q1 has no 2025Q1 to compare with: 2025Q3 against 2024Q3 is the latest pair
    assert (growth.kind, growth.value, growth.unit) == ("revenue_growth_yoy", 15.0, "%")
    assert "+15.00% year on year in 2025Q3" in growth.text and "consolidated" in growth.text
    assert growth.source.table == "fundamentals"
    assert growth.source.keys == ["2025Q3:revenue:consolidated", "2024Q3:revenue:consolidated"]
    # 2026Q1 has no operating income: 2025Q3's margin
    assert (margin.kind, margin.value) == ("operating_margin", 10.0)
    assert margin.details == {"operating_income": 23.0, "revenue": 230.0}


def test_separate_figures_when_the_company_files_no_consolidated_ones() -> None:
    found = fundamental_facts([
        fact("2024FY", "revenue", 100, False), fact("2025FY", "revenue", 90, False),
        fact("2025FY", "operating_income", -9, False),
    ])  # fmt: skip
    assert [(f.kind, f.value) for f in found] == [
        ("revenue_growth_yoy", -10.0),
        ("operating_margin", -10.0),
    ]
    assert all("separate" in f.text for f in found)


def test_nothing_without_figures() -> None:
    assert fundamental_facts([]) == []
    assert fundamental_facts([fact("2025FY", "total_assets", 5)]) == []

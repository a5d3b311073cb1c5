"""Alpha Vantage `INCOME_STATEMENT` / `BALANCE_SHEET` from `sim.statements`.

Real shape: `{"symbol", "annualReports": [...], "quarterlyReports": [...]}`, newest first,
every figure a string, "None" where AV has no value (as in its recorded AAPL answer:
`investmentIncomeNet`, `interestIncome`, ...). `{}` for a symbol without statements (not a
US listing, or unknown). A quarter appears 40 days after it ends; the last five years and
twenty quarters. Scenario `restated`: the latest annual report's revenue is 1.7% higher.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sim.statements import AV_LAG, Figures, StatementModel, quarter_end, restated
from sim.universe import SimInstrument

FUNCTIONS = ("INCOME_STATEMENT", "BALANCE_SHEET")
_NONE_INCOME = ("investmentIncomeNet", "netInterestIncome", "interestIncome", "interestExpense",
                "nonInterestIncome", "otherNonOperatingIncome", "depreciation",
                "interestAndDebtExpense", "comprehensiveIncomeNetOfTax")  # fmt: skip


def _income(f: Figures) -> dict[str, str]:
    cost = round(f.revenue * 0.55)
    opex = f.revenue - cost - f.operating_income
    out = {
        "grossProfit": str(f.revenue - cost),
        "totalRevenue": str(f.revenue),
        "costOfRevenue": str(cost),
        "costofGoodsAndServicesSold": str(cost),
        "operatingIncome": str(f.operating_income),
        "sellingGeneralAndAdministrative": str(round(opex * 0.45)),
        "researchAndDevelopment": str(opex - round(opex * 0.45)),
        "operatingExpenses": str(opex),
        **dict.fromkeys(_NONE_INCOME, "None"),
        "depreciationAndAmortization": str(round(f.revenue * 0.03)),
        "incomeBeforeTax": str(f.pretax_income),
        "incomeTaxExpense": str(f.pretax_income - f.net_income),
        "netIncomeFromContinuingOperations": str(f.net_income),
        "ebit": str(f.operating_income),
        "ebitda": str(f.operating_income + round(f.revenue * 0.03)),
        "netIncome": str(f.net_income),
    }
    order = ["grossProfit", "totalRevenue", "costOfRevenue", "costofGoodsAndServicesSold",
             "operatingIncome", "sellingGeneralAndAdministrative", "researchAndDevelopment",
             "operatingExpenses", "investmentIncomeNet", "netInterestIncome", "interestIncome",
             "interestExpense", "nonInterestIncome", "otherNonOperatingIncome", "depreciation",
             "depreciationAndAmortization", "incomeBeforeTax", "incomeTaxExpense",
             "interestAndDebtExpense", "netIncomeFromContinuingOperations",
             "comprehensiveIncomeNetOfTax", "ebit", "ebitda", "netIncome"]  # fmt: skip
    return {k: out[k] for k in order}  # AV's field order


def _balance(f: Figures) -> dict[str, str]:
    return {
        "totalAssets": str(f.total_assets),
        "totalCurrentAssets": str(f.current_assets),
        "cashAndCashEquivalentsAtCarryingValue": str(round(f.current_assets * 0.2)),
        "inventory": "None",
        "totalNonCurrentAssets": str(f.total_assets - f.current_assets),
        "goodwill": "None",
        "totalLiabilities": str(f.total_liabilities),
        "totalCurrentLiabilities": str(round(f.total_liabilities * 0.5)),
        "longTermDebt": str(round(f.total_liabilities * 0.3)),
        "totalShareholderEquity": str(f.total_equity),
        "treasuryStock": "None",
        "retainedEarnings": str(round(f.total_equity * 0.6)),
    }


def statements(
    model: StatementModel, inst: SimInstrument | None, function: str, now: float, amended: bool
) -> dict:
    """The answer to `function` for `inst` at time `now` (epoch seconds)."""
    if inst is None or inst.currency != "USD":
        return {}
    today = datetime.fromtimestamp(now, UTC).date()
    shown = _income if function == "INCOME_STATEMENT" else _balance
    quarters = []  # (year, quarter), newest first
    year, quarter = today.year, 4
    while len(quarters) < 20 and year >= 2015:
        if quarter_end(year, quarter) + AV_LAG <= today:
            quarters.append((year, quarter))
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    annual, quarterly = [], []
    for year, quarter in quarters:
        head = {"fiscalDateEnding": quarter_end(year, quarter).isoformat(),
                "reportedCurrency": "USD"}  # fmt: skip
        quarterly.append({**head, **shown(model.period(inst, year, quarter, annual=False))})
        if quarter == 4 and len(annual) < 5:
            figures = model.period(inst, year, 4, annual=True)
            if amended and not annual:
                figures = replace(figures, revenue=restated(figures.revenue))
            annual.append({**head, **shown(figures)})
    return {"symbol": inst.symbol("alphavantage"), "annualReports": annual,
            "quarterlyReports": quarterly}  # fmt: skip

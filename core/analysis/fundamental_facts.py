"""Report facts from stored financial statements (pure): revenue growth year on year and the
operating margin, of the latest period that has the figures.

Consolidated figures are used where the company files them, separate ones otherwise; a
period is compared with the same period a year before (2025Q3 with 2024Q3, 2025FY with
2024FY). Values are rounded as the text shows them (see `core.analysis.facts`).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.analysis.facts import Fact, FactSource
from core.models import FinancialFact

_Key = tuple[str, str, bool]  # period, account, consolidated


def _year_before(period: str) -> str:
    return f"{int(period[:4]) - 1}{period[4:]}"


def _fact(kind: str, value: float, unit: str, text: str, inst: str, keys: list[str],
          **details: float) -> Fact:  # fmt: skip
    source = FactSource(table="fundamentals", instrument_id=inst, keys=keys)
    return Fact(id="", kind=kind, value=value, unit=unit, text=text, details=details, source=source)


def fundamental_facts(facts: Sequence[FinancialFact]) -> list[Fact]:
    """Revenue growth year on year and operating margin, when the figures exist."""
    if not facts:
        return []
    by: dict[_Key, FinancialFact] = {(f.period, f.account, f.consolidated): f for f in facts}
    basis = any(f.consolidated for f in facts)  # consolidated wherever the company files it
    label = "consolidated" if basis else "separate"
    inst = facts[0].instrument_id
    revenues = sorted(
        (f for f in facts if f.account == "revenue" and f.consolidated == basis),
        key=lambda f: f.period_end,
        reverse=True,
    )
    out: list[Fact] = []
    for rev in revenues:  # the latest period with a year-ago figure
        before = by.get((_year_before(rev.period), "revenue", basis))
        if before is None or before.value <= 0:
            continue
        growth = round(float((rev.value / before.value - 1) * 100), 2)
        text = (
            f"revenue {growth:+.2f}% year on year in {rev.period} ({rev.value:,.0f} vs "
            f"{before.value:,.0f} {rev.currency} in {before.period}, {label})"
        )
        keys = [f"{rev.period}:revenue:{label}", f"{before.period}:revenue:{label}"]
        details = {"revenue": float(rev.value), "revenue_year_before": float(before.value)}
        out.append(_fact("revenue_growth_yoy", growth, "%", text, inst, keys, **details))
        break
    for rev in revenues:  # the latest period with an operating income
        operating = by.get((rev.period, "operating_income", basis))
        if operating is None or rev.value <= 0:
            continue
        margin = round(float(operating.value / rev.value * 100), 2)
        text = (
            f"operating margin {margin:.2f}% in {rev.period} (operating income "
            f"{operating.value:,.0f} on revenue {rev.value:,.0f} {rev.currency}, {label})"
        )
        keys = [f"{rev.period}:operating_income:{label}", f"{rev.period}:revenue:{label}"]
        details = {"operating_income": float(operating.value), "revenue": float(rev.value)}
        out.append(_fact("operating_margin", margin, "%", text, inst, keys, **details))
        break
    return out

"""Deterministic financial statements per instrument and fiscal quarter (December years).

Revenue grows along a per-instrument trend with quarterly noise; margins and the balance
sheet follow from per-instrument draws. A quarter's figures exist once its report is filed:
DART's periodic reports on the days `sim.filings` files them (its receipt numbers are the
same), Alpha Vantage's 40 days after the quarter ends. KRW amounts are whole won rounded to
millions (as DART's statements print them), USD amounts whole dollars rounded to thousands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sim import rng
from sim.filings import FilingModel
from sim.universe import SimInstrument

# DART reprt_code per quarter; the annual report (11011) is the fourth.
REPORT_CODES = {1: "11013", 2: "11012", 3: "11014", 4: "11011"}
QUARTER_OF = {code: q for q, code in REPORT_CODES.items()}
# When DART's periodic report of a quarter is filed: (months after the year's start, day).
_DART_FILED = {1: (5, 14), 2: (8, 13), 3: (11, 13), 4: (3, 12)}
AV_LAG = timedelta(days=40)
# Big groups file consolidated and separate statements; any other DART company in the sim
# has no subsidiaries and files separate statements only (no CFS lines).
GROUPS = frozenset({"00126380", "00164779"})


@dataclass(frozen=True, slots=True)
class Figures:
    """One period's figures: income lines for the period, balance lines at its end."""

    revenue: int
    operating_income: int
    pretax_income: int
    net_income: int
    current_assets: int
    total_assets: int
    total_liabilities: int
    total_equity: int


def quarter_end(year: int, quarter: int) -> date:
    """The last day of a calendar quarter."""
    return date(year, 3 * quarter, 30 if quarter in (2, 3) else 31)


def dart_filed_on(year: int, quarter: int) -> date:
    """The first weekday on or after the usual filing day of that quarter's report."""
    month, day = _DART_FILED[quarter]
    due = date(year + 1 if quarter == 4 else year, month, day)
    while due.weekday() >= 5:
        due += timedelta(days=1)
    return due


class StatementModel:
    """Figures per instrument, quarter and statement basis for one seed."""

    def __init__(self, seed: int, filings: FilingModel) -> None:
        self.seed = seed
        self.filings = filings

    def quarter(self, inst: SimInstrument, year: int, quarter: int, separate: bool) -> Figures:
        """The three months' income and the balance at the quarter's end."""
        h = rng.key(self.seed, "statements", inst.id)
        scale = 10**12 if inst.currency == "KRW" else 10**9
        base = scale * (2 + 60 * rng.unit(rng.at(h, 1)))  # annual revenue in 2020
        growth = 0.02 + 0.12 * rng.unit(rng.at(h, 2))
        margin = 0.05 + 0.22 * rng.unit(rng.at(h, 3))
        years = year - 2020 + (quarter - 1) / 4
        noise = rng.key(h, year, quarter)
        revenue = base / 4 * (1 + growth) ** years * (1 + 0.05 * rng.normal(noise))
        operating = revenue * margin * (1 + 0.25 * rng.normal(rng.at(noise, 1)))
        assets = base * (1 + growth) ** years * (1.1 + 0.8 * rng.unit(rng.at(h, 4)))
        liabilities = assets * (0.25 + 0.35 * rng.unit(rng.at(h, 5)))
        share = 0.55 if separate and inst.symbol("dart") in GROUPS else 1.0
        unit = 10**6 if inst.currency == "KRW" else 10**3

        def r(x: float) -> int:
            return round(x * share / unit) * unit

        pretax = operating * 1.08
        return Figures(
            revenue=r(revenue),
            operating_income=r(operating),
            pretax_income=r(pretax),
            net_income=r(pretax * 0.78),
            current_assets=r(assets * 0.45),
            total_assets=r(assets),
            total_liabilities=r(liabilities),
            total_equity=r(assets) - r(liabilities),
        )

    def period(self, inst: SimInstrument, year: int, quarter: int, annual: bool,
               separate: bool = False) -> Figures:  # fmt: skip
        """A quarter's figures, or (annual) the year's income with the year-end balance."""
        last = self.quarter(inst, year, quarter, separate)
        if not annual:
            return last
        quarters = [self.quarter(inst, year, q, separate) for q in (1, 2, 3, 4)]
        return Figures(
            revenue=sum(f.revenue for f in quarters),
            operating_income=sum(f.operating_income for f in quarters),
            pretax_income=sum(f.pretax_income for f in quarters),
            net_income=sum(f.net_income for f in quarters),
            current_assets=last.current_assets,
            total_assets=last.total_assets,
            total_liabilities=last.total_liabilities,
            total_equity=last.total_equity,
        )

    def dart_receipt(self, inst: SimInstrument, year: int, quarter: int) -> str:
        """The receipt number of the quarter's periodic report (as `list.json` lists it)."""
        day = dart_filed_on(year, quarter)
        periodic = [f for f in self.filings.day(inst, day) if f.kind == "A"]
        return periodic[0].rcept_no if periodic else f"{day:%Y%m%d}000001"


def restated(value: int) -> int:
    """A restated figure: 1.7% more, in the same rounding."""
    step = 10**6 if abs(value) >= 10**9 else 1
    return round(value * 1.017 / step) * step

"""Deterministic DART disclosures for instruments that have a DART corp code.

Periodic reports land on fixed days each year; other filings (insider holdings, fair
disclosures, dividends...) are drawn per trading day from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sim import rng
from sim.universe import SimInstrument

# (report name, DART disclosure type, who files: "corp" | "person" | "fund", weight, remark)
_ADHOC = [
    ("임원ㆍ주요주주특정증권등소유상황보고서", "D", "person", 30, ""),
    ("주식등의대량보유상황보고서(일반)", "D", "fund", 8, ""),
    ("기업설명회(IR)개최(안내공시)", "I", "corp", 8, "유"),
    ("연결재무제표기준영업(잠정)실적(공정공시)", "I", "corp", 6, "유"),
    ("현금ㆍ현물배당결정", "I", "corp", 4, "유"),
    ("주요사항보고서(자기주식취득결정)", "B", "corp", 4, ""),
    ("단일판매ㆍ공급계약체결", "I", "corp", 5, "유"),
    ("특수관계인과의내부거래", "I", "corp", 5, "공"),
    ("대규모기업집단현황공시[분기별공시(개별회사용)]", "J", "corp", 4, "공"),
    ("[기재정정]주요사항보고서(자기주식취득결정)", "B", "corp", 2, "정"),
]
# (month, day, report name with {y}/{p} for the reported period) of periodic reports.
_PERIODIC = [
    (3, 12, "사업보고서 ({py}.12)"),
    (5, 14, "분기보고서 ({y}.03)"),
    (8, 13, "반기보고서 ({y}.06)"),
    (11, 13, "분기보고서 ({y}.09)"),
]
_PEOPLE = ["김민수", "이영희", "박지훈", "최서연", "정도윤", "강하은", "조민재", "윤지아"]
_FUNDS = ["국민연금공단", "블랙록(BlackRock, Inc.)", "삼성자산운용"]


@dataclass(frozen=True, slots=True)
class Filing:
    """One disclosure as OpenDART's list.json describes it."""

    rcept_no: str
    rcept_dt: date
    report_nm: str
    kind: str
    flr_nm: str
    rm: str
    instrument_id: str

    def item(self, inst: SimInstrument) -> dict:
        """The `list[]` entry of OpenDART's list.json."""
        return {
            "corp_code": inst.symbol("dart"),
            "corp_name": inst.korean_name or inst.name,
            "stock_code": inst.symbol("yahoo").split(".")[0],
            "corp_cls": "Y",
            "report_nm": self.report_nm,
            "rcept_no": self.rcept_no,
            "flr_nm": self.flr_nm,
            "rcept_dt": self.rcept_dt.strftime("%Y%m%d"),
            "rm": self.rm,
        }


class FilingModel:
    """Disclosures per instrument and day for one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def between(self, inst: SimInstrument, first: date, last: date) -> list[Filing]:
        """Filings of `inst` received from `first` to `last` (inclusive), oldest first."""
        if "dart" not in inst.symbols:
            return []
        out: list[Filing] = []
        day = max(first, date(2000, 1, 3))
        while day <= last:
            if day.weekday() < 5:
                out.extend(self.day(inst, day))
            day += timedelta(days=1)
        return out

    def day(self, inst: SimInstrument, day: date) -> list[Filing]:
        """Filings of `inst` received on `day`."""
        r = rng.rng(self.seed, "dart", inst.id, day.toordinal())
        corp = inst.korean_name or inst.name
        picks: list[tuple[str, str, str, str]] = []
        for month, dom, name in _PERIODIC:
            due = date(day.year, month, dom)
            due += timedelta(days=max(0, 7 - due.weekday()) if due.weekday() >= 5 else 0)
            if due == day:  # filed on the first weekday on or after the usual date
                picks.append((name.format(y=day.year, py=day.year - 1), "A", "corp", ""))
        for _ in range(r.choice([0, 0, 0, 0, 1, 1, 2])):
            name, kind, filer, _w, rm = r.choices(_ADHOC, weights=[a[3] for a in _ADHOC])[0]
            picks.append((name, kind, filer, rm))
        out = []
        # Receipt numbers are DART's natural key: one block of 1000 per company avoids clashes.
        base = (10 + rng.text_key(inst.symbol("dart")) % 90) * 1000 + r.randrange(0, 900)
        for i, (name, kind, filer, rm) in enumerate(picks):
            who = {"corp": corp, "person": r.choice(_PEOPLE), "fund": r.choice(_FUNDS)}[filer]
            prefix = "8" if kind == "I" else "0"  # exchange filings carry an 8 in DART numbers
            rcept_no = f"{day:%Y%m%d}{prefix}{base + i * 7:05d}"
            out.append(Filing(rcept_no, day, name, kind, who, rm, inst.id))
        return out

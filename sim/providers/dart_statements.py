"""OpenDART `GET /api/fnlttSinglAcnt.json`: a company's major accounts for one report period.

Real shape: `list` items with `rcept_no`, `reprt_code`, `bsns_year`, `fs_div` CFS/OFS (both
in one answer), `sj_div` BS/IS, `account_nm` in Korean, `thstrm_*` / `frmtrm_*` (and in the
annual report `bfefrmtrm_*`) amounts as strings with commas, `ord`, `currency`. Edges: status
013 for a period not filed yet (or before 2015, or an unknown company); a company without
subsidiaries (not in `sim.statements.GROUPS`) has OFS lines only; a first-quarter report's
separate 영업이익 is "-"; scenario `restated`: the latest annual report was amended (a later
receipt number, revenue 1.7% higher).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from sim.calendar import zone
from sim.faults import FaultState
from sim.providers.base import Endpoint, json_response, key_state
from sim.providers.dart import DAILY_LIMIT_MESSAGE, status
from sim.statements import (
    GROUPS,
    QUARTER_OF,
    REPORT_CODES,
    StatementModel,
    dart_filed_on,
    quarter_end,
    restated,
)
from sim.universe import SimInstrument
from sim.world import SimWorld

_FS = {"CFS": "연결재무제표", "OFS": "재무제표"}
_SJ = {"BS": "재무상태표", "IS": "손익계산서"}
_LINES = (
    ("BS", "유동자산", "current_assets"),
    ("BS", "자산총계", "total_assets"),
    ("BS", "부채총계", "total_liabilities"),
    ("BS", "자본총계", "total_equity"),
    ("IS", "매출액", "revenue"),
    ("IS", "영업이익", "operating_income"),
    ("IS", "법인세차감전 순이익", "pretax_income"),
    ("IS", "당기순이익", "net_income"),
)
_TERM = {1: " 1분기", 2: " 반기", 3: " 3분기", 4: ""}


def _start_of(year: int, quarter: int, annual: bool) -> date:
    return date(year, 1, 1) if annual else date(year, 3 * quarter - 2, 1)


class StatementsEndpoint(Endpoint):
    """Answers /api/fnlttSinglAcnt.json from `sim.statements`."""

    def __init__(self, world: SimWorld, state: FaultState) -> None:
        super().__init__(world, state)
        self.model = StatementModel(self.world.seed, self.world.filings)

    async def handle(self, request: Request) -> Response:
        """GET /api/fnlttSinglAcnt.json."""
        params = request.query_params
        key, scenarios = params.get("crtfc_key"), self.state.scenarios
        if "maintenance" in scenarios:
            return status("800")
        if key_state(key) != "ok":
            return status("011" if key and "suspend" in key else "010")
        if "daily_quota" in scenarios and scenarios.quota.exceeded(key, self.world.clock()):
            return json_response({"status": "020", "message": DAILY_LIMIT_MESSAGE})
        corp_code = params.get("corp_code", "")
        year_text, code = params.get("bsns_year", ""), params.get("reprt_code", "")
        if not (re.fullmatch(r"\d{8}", corp_code) and re.fullmatch(r"\d{4}", year_text)):
            return status("100")
        if code not in QUARTER_OF:
            return status("100")
        year, quarter = int(year_text), QUARTER_OF[code]
        inst = self.world.universe.by_symbol("dart", corp_code)
        today = datetime.fromtimestamp(self.world.clock(), zone("Asia/Seoul")).date()
        if inst is None or year < 2015 or dart_filed_on(year, quarter) > today:
            return status("013")
        rcept_no = self.model.dart_receipt(inst, year, quarter)
        amended = "restated" in scenarios and quarter == 4 and year == self._latest_annual(today)
        if amended:  # a [기재정정] amendment, filed a month after the report (or today)
            day = min(dart_filed_on(year, 4) + timedelta(days=30), today)
            rcept_no = f"{day:%Y%m%d}{int(rcept_no[8:]) + 1:06d}"
        items = []
        for fs_div in ("CFS", "OFS") if corp_code in GROUPS else ("OFS",):
            items += self._lines(inst, year, quarter, fs_div, rcept_no, amended)
        return json_response({"status": "000", "message": "정상", "list": items})

    def _latest_annual(self, today: date) -> int:
        year = today.year
        while dart_filed_on(year, 4) > today:
            year -= 1
        return year

    def _lines(self, inst: SimInstrument, year: int, quarter: int, fs_div: str,
               rcept_no: str, amended: bool) -> list[dict]:  # fmt: skip
        annual, separate = quarter == 4, fs_div == "OFS"
        now = self.model.period(inst, year, quarter, annual, separate)
        before = self.model.period(inst, year - 1, quarter, annual, separate)
        earlier = self.model.period(inst, year - 2, quarter, annual, separate)
        if amended:
            now = replace(now, revenue=restated(now.revenue))
        term = year - 1968
        out = []
        for i, (sj_div, name, attr) in enumerate(_LINES, start=1):
            amount = f"{getattr(now, attr):,}"
            if separate and quarter == 1 and attr == "operating_income":
                amount = "-"  # DART prints "-" for a figure the filing leaves out
            item = {
                "rcept_no": rcept_no,
                "reprt_code": REPORT_CODES[quarter],
                "bsns_year": str(year),
                "corp_code": inst.symbol("dart"),
                "stock_code": inst.symbol("yahoo").split(".")[0],
                "fs_div": fs_div,
                "fs_nm": _FS[fs_div],
                "sj_div": sj_div,
                "sj_nm": _SJ[sj_div],
                "account_nm": name,
                "thstrm_nm": f"제 {term} 기{_TERM[quarter]}",
                "thstrm_dt": self._dt(sj_div, year, quarter, annual),
                "thstrm_amount": amount,
                "frmtrm_nm": f"제 {term - 1} 기{_TERM[quarter]}",
                "frmtrm_dt": self._dt(sj_div, year - 1, quarter, annual),
                "frmtrm_amount": f"{getattr(before, attr):,}",
            }
            if annual:  # only the annual report shows the year before last
                item["bfefrmtrm_nm"] = f"제 {term - 2} 기"
                item["bfefrmtrm_dt"] = self._dt(sj_div, year - 2, quarter, annual)
                item["bfefrmtrm_amount"] = f"{getattr(earlier, attr):,}"
            item["ord"] = str(i)
            item["currency"] = "KRW"
            out.append(item)
        return out

    @staticmethod
    def _dt(sj_div: str, year: int, quarter: int, annual: bool) -> str:
        end = quarter_end(year, quarter)
        if sj_div == "BS":
            return f"{end:%Y.%m.%d} 현재"
        return f"{_start_of(year, quarter, annual):%Y.%m.%d} ~ {end:%Y.%m.%d}"

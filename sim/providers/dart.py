"""OpenDART: `GET /api/list.json` (disclosure search by corp_code and receipt dates) and
`GET /api/fnlttSinglAcnt.json` (major accounts: `sim.providers.dart_statements`).

Always HTTP 200; the outcome is in `status`: "000" ok, "013" no data, "020" over the limit,
"010"/"011" key problems, "100" a bad field, "800" maintenance. Scenarios: `daily_quota`
(020 after `daily_limit` requests a Seoul day), `maintenance` (800), `echo_key`.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sim.calendar import zone
from sim.faults import FaultState
from sim.providers.base import Endpoint, ProviderSpec, html_error, json_response, key_state
from sim.world import SimWorld

MESSAGES = {
    "000": "정상",
    "010": "등록되지 않은 키입니다.",
    "011": "사용할 수 없는 키입니다. 오픈API에 등록되었으나, 일시적으로 사용 중지된 키를 통하여 "
    "검색하는 경우 발생합니다.",
    "013": "조회된 데이타가 없습니다.",
    "020": "요청 제한을 초과하였습니다. 일반적으로는 20,000건 이상의 요청에 대하여 "
    "이 에러 메시지가 발생되나, 요청 제한이 다르게 설정된 경우에는 이에 준하여 발생됩니다.",
    "100": "필드의 부적절한 값입니다. 필드 설명에 없는 값을 사용한 경우에 발생하는 메시지입니다.",
    "800": "시스템 점검으로 인한 서비스가 중지 중입니다.",
}
DAILY_LIMIT_MESSAGE = "요청 제한을 초과하였습니다."  # what the daily limit answers with


def status(code: str) -> Response:
    """A DART status-only answer (always HTTP 200)."""
    return json_response({"status": code, "message": MESSAGES[code]})


def _day(text: str) -> date:
    if not re.fullmatch(r"\d{8}", text):
        raise ValueError(text)
    return datetime.strptime(text, "%Y%m%d").date()


class ListEndpoint(Endpoint):
    """Answers /api/list.json from the world's filings."""

    async def handle(self, request: Request) -> Response:
        """GET /api/list.json."""
        params = request.query_params
        key = params.get("crtfc_key")
        scenarios = self.state.scenarios
        if "maintenance" in scenarios:
            return status("800")
        if key_state(key) != "ok":
            return status("011" if key and "suspend" in key else "010")
        if "daily_quota" in scenarios and scenarios.quota.exceeded(key, self.world.clock()):
            return json_response({"status": "020", "message": DAILY_LIMIT_MESSAGE})
        today = datetime.fromtimestamp(self.world.clock(), zone("Asia/Seoul")).date()
        try:
            end = _day(params["end_de"]) if params.get("end_de") else today
            start = _day(params["bgn_de"]) if params.get("bgn_de") else end
            page_no = int(params.get("page_no", "1"))
            page_count = int(params.get("page_count", "10"))
        except ValueError:
            return status("100")
        corp_code = params.get("corp_code")
        if (
            page_no < 1
            or not 1 <= page_count <= 100
            or start > end
            or (corp_code and not re.fullmatch(r"\d{8}", corp_code))
            or (not corp_code and end - start > timedelta(days=92))
        ):
            return status("100")  # without corp_code DART searches at most three months
        universe = self.world.universe
        insts = [universe.by_symbol("dart", corp_code)] if corp_code else universe.at("dart")
        if None in insts or params.get("corp_cls", "Y") != "Y":
            return status("013")
        kind = params.get("pblntf_ty")
        filings = [
            (f, inst)
            for inst in insts  # type: ignore[union-attr]
            for f in self.world.filings.between(inst, start, min(end, today))
            if not kind or f.kind == kind
        ]
        filings.sort(key=lambda fi: fi[0].rcept_no, reverse=params.get("sort_mth") != "asc")
        if not filings:
            return status("013")
        chunk = filings[(page_no - 1) * page_count : page_no * page_count]
        return json_response(
            {
                "status": "000",
                "message": MESSAGES["000"],
                "page_no": page_no,
                "page_count": page_count,
                "total_count": len(filings),
                "total_page": math.ceil(len(filings) / page_count),
                "list": [f.item(inst) for f, inst in chunk],
            }
        )


def _limit_response(variant: str) -> Response:
    return status("020")


def _echo_key(body: dict, key: str) -> bool:
    if body.get("status") == "010":
        body["message"] = f"{MESSAGES['010']} crtfc_key={key}"
    elif isinstance(body.get("message"), str):
        body["message"] = f"{body['message']} crtfc_key={key}"
    else:
        return False
    return True


def build(world: SimWorld, state: FaultState) -> Starlette:
    """The /api/list.json and /api/fnlttSinglAcnt.json routes."""
    from sim.providers.dart_statements import StatementsEndpoint  # it imports this module

    statements = StatementsEndpoint(world, state).handle
    return Starlette(
        routes=[
            Route("/api/list.json", ListEndpoint(world, state).handle),
            Route("/api/fnlttSinglAcnt.json", statements),
        ]
    )


SPEC = ProviderSpec("dart", build, _limit_response, html_error, _echo_key)

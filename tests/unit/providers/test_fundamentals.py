"""Financial statements: DART and Alpha Vantage parsers on REAL recorded answers
(`payloads/real/`, sources in its INDEX.md), the shared vocabulary, and the clients' calls.

Expected values were read by hand from the fixture named in each test.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from core.errors import BadPayload, PlanLimit, QuotaExhausted
from core.fundamentals import (
    av_period,
    check_period,
    dart_account,
    dart_reports_between,
    parse_amount,
    period_end_of,
)
from core.providers.alphavantage import AlphaVantageClient, parse_statements
from core.providers.dart import DartClient, parse_accounts
from tests.unit.providers.conftest import AAPL, SAMSUNG, Recorder, transport_client, utc
from tests.unit.providers.test_real_payloads import real


def facts_by(facts: list) -> dict[tuple[str, str, bool], Any]:
    return {(f.period, f.account, f.consolidated): f for f in facts}


def test_dart_major_accounts_samsung_2024() -> None:
    """dart_fnlttsinglacnt_samsung_2024_3rows.json: CFS 자산총계 and 매출액 with commas; the
    OFS 유동자산 line is no account of ours."""
    facts = parse_accounts(
        real("dart_fnlttsinglacnt_samsung_2024_3rows.json"), SAMSUNG, "2024", "11011"
    )
    found = facts_by(facts)
    assert set(found) == {("2024FY", "total_assets", True), ("2024FY", "revenue", True)}
    assets = found["2024FY", "total_assets", True]
    assert assets.value == Decimal("514531948000000")
    assert (assets.statement, assets.period_end) == ("balance", date(2024, 12, 31))
    assert (assets.currency, assets.provider, assets.report_id) == ("KRW", "dart", "20250311001085")
    revenue = found["2024FY", "revenue", True]
    assert revenue.value == Decimal("300870903000000") and revenue.statement == "income"
    assert revenue.period_end == date(2024, 12, 31)  # the end of "2024.01.01 ~ 2024.12.31"


def test_dart_full_statements_by_account_id_first_line_wins() -> None:
    """dart_fnlttsinglacntall_samsung_2024_7rows.json: XBRL ids, plain digits; 당기순이익 in IS
    and again in CIS is one fact; 총포괄손익 and the cash-flow line are not ours."""
    facts = parse_accounts(
        real("dart_fnlttsinglacntall_samsung_2024_7rows.json"), SAMSUNG, "2024", "11011"
    )
    found = {f.account: f for f in facts}
    assert len(facts) == 4
    assert found["operating_income"].value == Decimal("32725961000000")
    assert found["net_income"].value == Decimal("34451351000000")
    assert found["revenue"].value == Decimal("300870903000000")
    assert found["total_assets"].value == Decimal("514531948000000")
    assert all(f.consolidated for f in facts)  # asked with fs_div=CFS; no fs_div in the lines


def test_dart_status_013_is_no_statements() -> None:
    assert parse_accounts(real("dart_status_013_no_data.json"), SAMSUNG, "2025", "11013") == []


def test_dart_dash_and_empty_amounts_are_no_fact_and_garbage_names_the_field() -> None:
    line = {"rcept_no": "1", "fs_div": "OFS", "sj_div": "IS", "account_nm": "영업이익",
            "thstrm_amount": "-"}  # fmt: skip
    body = {"status": "000", "list": [line, {**line, "account_nm": "매출액", "thstrm_amount": ""}]}
    assert parse_accounts(body, SAMSUNG, "2024", "11012") == []
    body["list"][0]["thstrm_amount"] = "12억"
    with pytest.raises(BadPayload) as caught:
        parse_accounts(body, SAMSUNG, "2024", "11012")
    assert caught.value.field == "list[0].thstrm_amount"


def test_av_income_statement_aapl() -> None:
    """av_income_statement_aapl_2025_trimmed.json: annual 2025-09-30 and quarterly 2025-12-31;
    the window drops the 2024 reports."""
    facts = parse_statements(
        real("av_income_statement_aapl_2025_trimmed.json"), AAPL, date(2025, 1, 1), date(2026, 3, 1)
    )
    found = facts_by(facts)
    assert set(found) == {
        (p, a, True)
        for p in ("2025FY", "2025Q4")
        for a in ("revenue", "operating_income", "net_income")
    }
    annual = found["2025FY", "revenue", True]
    assert annual.value == Decimal("416161000000") and annual.period_end == date(2025, 9, 30)
    assert found["2025FY", "operating_income", True].value == Decimal("133050000000")
    assert found["2025FY", "net_income", True].value == Decimal("112010000000")
    assert found["2025Q4", "revenue", True].value == Decimal("143756000000")
    assert {f.currency for f in facts} == {"USD"} and {f.statement for f in facts} == {"income"}


def test_av_balance_sheet_none_is_no_fact_and_empty_answer_is_none() -> None:
    # Hand-written in AV's documented field names (no recorded BALANCE_SHEET was found).
    body = {"symbol": "AAPL", "annualReports": [{"fiscalDateEnding": "2024-09-30",
            "reportedCurrency": "USD", "totalAssets": "364980000000",
            "totalLiabilities": "308030000000", "totalShareholderEquity": "None"}]}  # fmt: skip
    facts = parse_statements(body, AAPL, date(2024, 1, 1), date(2025, 1, 1))
    assert {f.account: f.value for f in facts} == {
        "total_assets": Decimal("364980000000"),
        "total_liabilities": Decimal("308030000000"),
    }
    assert all(f.statement == "balance" and f.period == "2024FY" for f in facts)
    assert parse_statements({}, AAPL, date(2024, 1, 1), date(2025, 1, 1)) == []


def test_vocabulary() -> None:
    assert parse_amount("1,234,567") == Decimal(1234567)
    assert parse_amount("(50,000)") == Decimal(-50000)
    assert parse_amount("-1,234") == Decimal(-1234)
    assert [parse_amount(t) for t in ("-", "", "None")] == [None, None, None]
    with pytest.raises(ValueError):
        parse_amount("NaN")
    assert dart_account("당기순이익(손실)") == "net_income"
    assert dart_account("분기순이익") == "net_income"
    assert dart_account("기타", "ifrs-full_Equity") == "total_equity"
    assert dart_account("유동자산") is None
    assert period_end_of("2024.06.30 현재") == date(2024, 6, 30)
    assert period_end_of("") is None
    assert av_period(date(2025, 12, 31), annual=False) == "2025Q4"
    assert av_period(date(2025, 9, 30), annual=True) == "2025FY"
    assert [c for _y, c, _e in dart_reports_between(date(2024, 2, 1), date(2025, 1, 1))] == [
        "11013", "11012", "11014", "11011"
    ]  # fmt: skip
    assert check_period("2024Q3") == "2024Q3"
    with pytest.raises(ValueError, match="2024H1"):
        check_period("2024H1")


async def test_dart_client_asks_each_report_period_and_maps_020() -> None:
    ok = json.dumps(real("dart_fnlttsinglacnt_samsung_2024_3rows.json")).encode()
    no_data = json.dumps(real("dart_status_013_no_data.json")).encode()
    recorder = Recorder(httpx.Response(200, content=ok), httpx.Response(200, content=no_data))
    async with DartClient(
        "http://dart.test", api_key="k", http=transport_client(recorder)
    ) as client:
        facts = await client.fetch_fundamentals(SAMSUNG, utc(2024, 12, 1), utc(2025, 4, 1))
    assert [dict(r.url.params) for r in recorder.requests] == [
        {"crtfc_key": "k", "corp_code": "00126380", "bsns_year": y, "reprt_code": c}
        for y, c in (("2024", "11011"), ("2025", "11013"))
    ]
    assert recorder.requests[0].url.path == "/api/fnlttSinglAcnt.json"
    assert len(facts) == 2
    limit = Recorder(httpx.Response(200, json={"status": "020", "message": "요청 제한"}))
    async with DartClient("http://dart.test", api_key="k", http=transport_client(limit)) as c:
        with pytest.raises(QuotaExhausted):
            await c.fetch_fundamentals(SAMSUNG, utc(2024, 12, 1), utc(2025, 1, 1))


async def test_av_client_asks_both_statements() -> None:
    income = json.dumps(real("av_income_statement_aapl_2025_trimmed.json")).encode()
    recorder = Recorder(httpx.Response(200, content=income), httpx.Response(200, content=b"{}"))
    async with AlphaVantageClient(
        "http://av.test", api_key="k", http=transport_client(recorder)
    ) as client:
        facts = await client.fetch_fundamentals(AAPL, utc(2024, 10, 1), utc(2025, 10, 1))
    assert [r.url.params["function"] for r in recorder.requests] == [
        "INCOME_STATEMENT",
        "BALANCE_SHEET",
    ]
    assert {f.period for f in facts} == {"2024Q4", "2025FY"}


async def test_dart_declines_an_instrument_without_corp_code_so_the_router_fails_over() -> None:
    recorder = Recorder()
    async with DartClient("http://dart.test", api_key="k", http=transport_client(recorder)) as c:
        with pytest.raises(PlanLimit, match="AAPL") as caught:
            await c.fetch_fundamentals(AAPL, utc(2024, 1, 1), utc(2025, 1, 1))
    assert caught.value.failover and recorder.requests == []  # nothing sent

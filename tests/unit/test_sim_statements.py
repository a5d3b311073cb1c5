"""The sim's financial statements over real sockets: DART fnlttSinglAcnt.json and Alpha
Vantage INCOME_STATEMENT / BALANCE_SHEET in their real shapes, with their edges."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from core.models import Instrument
from core.providers.alphavantage import AlphaVantageClient
from core.providers.dart import DartClient
from sim.server import SimServer
from sim.statements import AV_LAG, dart_filed_on, quarter_end

SAMSUNG = "00126380"
TODAY = datetime.now(ZoneInfo("Asia/Seoul")).date()  # the sim runs on the wall clock
# The latest business year whose annual report is filed (its Q1 report came before it).
YEAR = next(y for y in range(TODAY.year, 2014, -1) if dart_filed_on(y, 4) <= TODAY)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(seed=7) as server:
        yield server


def accounts(sim: SimServer, **params: str) -> dict:
    with httpx.Client(base_url=sim.urls["dart"]) as client:
        response = client.get("/api/fnlttSinglAcnt.json", params={"crtfc_key": "k", **params})
    assert response.status_code == 200  # DART answers 200 for everything
    return response.json()


def test_dart_major_accounts_shape(sim: SimServer) -> None:
    body = accounts(sim, corp_code=SAMSUNG, bsns_year=str(YEAR), reprt_code="11011")
    assert body["status"] == "000" and body["message"] == "정상"
    item = body["list"][0]
    assert list(item) == [
        "rcept_no", "reprt_code", "bsns_year", "corp_code", "stock_code", "fs_div", "fs_nm",
        "sj_div", "sj_nm", "account_nm", "thstrm_nm", "thstrm_dt", "thstrm_amount",
        "frmtrm_nm", "frmtrm_dt", "frmtrm_amount", "bfefrmtrm_nm", "bfefrmtrm_dt",
        "bfefrmtrm_amount", "ord", "currency",
    ]  # fmt: skip
    assert {i["fs_div"] for i in body["list"]} == {"CFS", "OFS"}
    revenue = next(i for i in body["list"] if i["account_nm"] == "매출액" and i["fs_div"] == "CFS")
    assert revenue["thstrm_dt"] == f"{YEAR}.01.01 ~ {YEAR}.12.31" and revenue["sj_div"] == "IS"
    assert "," in revenue["thstrm_amount"] and revenue["currency"] == "KRW"
    # the periodic report's receipt number is the one list.json shows for it
    with httpx.Client(base_url=sim.urls["dart"]) as client:
        day = f"{dart_filed_on(YEAR, 4):%Y%m%d}"
        listed = client.get("/api/list.json", params={"crtfc_key": "k", "corp_code": SAMSUNG,
                            "bgn_de": day, "end_de": day}).json()  # fmt: skip
    assert revenue["rcept_no"] in {f["rcept_no"] for f in listed["list"]}


def test_dart_edges(sim: SimServer) -> None:
    q1 = accounts(sim, corp_code=SAMSUNG, bsns_year=str(YEAR), reprt_code="11013")["list"]
    ofs_operating = [i for i in q1 if i["fs_div"] == "OFS" and i["account_nm"] == "영업이익"]
    assert [i["thstrm_amount"] for i in ofs_operating] == ["-"]
    assert "bfefrmtrm_amount" not in q1[0]  # only the annual report has the year before last
    for params in (
        {"bsns_year": str(TODAY.year + 1), "reprt_code": "11013"},  # not filed yet
        {"bsns_year": "2014", "reprt_code": "11011"},
    ):  # before DART's statements
        assert accounts(sim, corp_code=SAMSUNG, **params)["status"] == "013"
    assert accounts(sim, corp_code="99999999", bsns_year="2025", reprt_code="11011")[
        "status"] == "013"  # fmt: skip
    assert accounts(sim, corp_code=SAMSUNG, bsns_year="2025", reprt_code="11015")["status"] == "100"


def test_separate_only_company_has_no_cfs_lines(tmp_path) -> None:
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(
        "instruments:\n  - id: 035720.KS\n    name: Small Co\n    exchange: KRX\n"
        "    currency: KRW\n    timezone: Asia/Seoul\n"
        "    symbols: {yahoo: 035720.KS, dart: '00258801'}\n"
    )
    with SimServer(seed=7, watchlist_path=watchlist) as small:
        body = accounts(small, corp_code="00258801", bsns_year=str(YEAR), reprt_code="11011")
    assert body["status"] == "000" and {i["fs_div"] for i in body["list"]} == {"OFS"}


def test_restated_scenario_amends_the_latest_annual_report(sim: SimServer) -> None:
    annual = {"corp_code": SAMSUNG, "reprt_code": "11011"}
    before = accounts(sim, bsns_year=str(YEAR), **annual)["list"]
    earlier = accounts(sim, bsns_year=str(YEAR - 1), **annual)["list"]
    sim.set_scenarios("dart", {"restated": True})
    try:
        after = accounts(sim, bsns_year=str(YEAR), **annual)["list"]
        older = accounts(sim, bsns_year=str(YEAR - 1), **annual)["list"]
    finally:
        sim.set_scenarios("dart", {})
    assert after[0]["rcept_no"] > before[0]["rcept_no"]
    changed = [(b["account_nm"], b["fs_div"]) for b, a in zip(before, after, strict=True)
               if b["thstrm_amount"] != a["thstrm_amount"]]  # fmt: skip
    assert changed == [("매출액", "CFS"), ("매출액", "OFS")]
    assert older == earlier  # only the latest annual report was amended


def test_alphavantage_statements_shape_and_clients_read_them(sim: SimServer) -> None:
    with httpx.Client(base_url=sim.urls["alphavantage"]) as client:
        income = client.get("/query", params={"function": "INCOME_STATEMENT",
                            "symbol": "AAPL", "apikey": "k"}).json()  # fmt: skip
        korean = client.get("/query", params={"function": "BALANCE_SHEET",
                            "symbol": "005930.KS", "apikey": "k"}).json()  # fmt: skip
    assert list(income) == ["symbol", "annualReports", "quarterlyReports"]
    today = datetime.now(UTC).date()
    ends = [quarter_end(y, q) for y in range(today.year, 2014, -1) for q in (4, 3, 2, 1)]
    latest = next(e for e in ends if e + AV_LAG <= today)  # a quarter shows 40 days after
    year_end = next(e for e in ends if e.month == 12 and e + AV_LAG <= today)
    assert income["quarterlyReports"][0]["fiscalDateEnding"] == latest.isoformat()
    assert income["annualReports"][0]["fiscalDateEnding"] == year_end.isoformat()
    assert income["annualReports"][0]["interestIncome"] == "None"
    assert korean == {}
    aapl = Instrument("AAPL", "Apple", "NASDAQ", "USD", "America/New_York",
                      {"alphavantage": "AAPL"})  # fmt: skip
    samsung = Instrument("005930.KS", "Samsung", "KRX", "KRW", "Asia/Seoul", {"dart": SAMSUNG})

    async def fetch() -> tuple[list, list]:
        window = (datetime(YEAR, 1, 1, tzinfo=UTC), datetime(YEAR + 1, 1, 1, tzinfo=UTC))
        async with (
            AlphaVantageClient(sim.urls["alphavantage"], api_key="k") as av,
            DartClient(sim.urls["dart"], api_key="k") as dart,
        ):
            return await av.fetch_fundamentals(aapl, *window), await dart.fetch_fundamentals(
                samsung, *window
            )

    us, kr = asyncio.run(fetch())
    quarters = {f"{YEAR}Q{q}" for q in (1, 2, 3)}
    assert {f.period for f in us} >= {*quarters, f"{YEAR}FY"}  # AV: Q4 as well, if it shows
    assert {f.statement for f in us} == {"income", "balance"}
    assert {f.period for f in kr} == {*quarters, f"{YEAR}FY"}
    assert len([f for f in kr if f.period == f"{YEAR}Q1"]) == 11  # 12 accounts, one is "-"
    assert date(YEAR, 12, 31) in {f.period_end for f in kr}

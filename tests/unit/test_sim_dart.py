"""The sim's OpenDART /api/list.json over real sockets: paging, statuses, Korean fields."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sim.server import SimServer

SAMSUNG = "00126380"


@pytest.fixture(scope="module")
def dart() -> Iterator[httpx.Client]:
    with SimServer(seed=7) as sim, httpx.Client(base_url=sim.urls["dart"]) as client:
        yield client


def listing(client: httpx.Client, **params) -> dict:
    response = client.get("/api/list.json", params={"crtfc_key": "k", **params})
    assert response.status_code == 200  # DART answers 200 for everything
    return response.json()


def test_list_shape_and_paging(dart: httpx.Client) -> None:
    body = listing(
        dart, corp_code=SAMSUNG, bgn_de="20240101", end_de="20240630", page_no=1, page_count=10
    )
    assert body["status"] == "000" and body["message"] == "정상"
    assert body["page_no"] == 1 and body["page_count"] == 10
    assert body["total_page"] == -(-body["total_count"] // 10) and len(body["list"]) == 10
    item = body["list"][0]
    assert set(item) == {
        "corp_code",
        "corp_name",
        "stock_code",
        "corp_cls",
        "report_nm",
        "rcept_no",
        "flr_nm",
        "rcept_dt",
        "rm",
    }
    assert item["corp_name"] == "삼성전자" and item["stock_code"] == "005930"
    assert item["corp_cls"] == "Y" and len(item["rcept_no"]) == 14
    dates = [i["rcept_dt"] for i in body["list"]]
    assert dates == sorted(dates, reverse=True) and all("2024" in d for d in dates)
    everything = [
        i["rcept_no"]
        for p in range(1, body["total_page"] + 1)
        for i in listing(
            dart, corp_code=SAMSUNG, bgn_de="20240101", end_de="20240630", page_no=p, page_count=10
        )["list"]
    ]
    assert len(everything) == len(set(everything)) == body["total_count"]


def test_periodic_report_and_type_filter(dart: httpx.Client) -> None:
    body = listing(dart, corp_code=SAMSUNG, bgn_de="20240301", end_de="20240331", pblntf_ty="A")
    assert [i["report_nm"] for i in body["list"]] == ["사업보고서 (2023.12)"]


def test_without_corp_code_lists_every_korean_instrument(dart: httpx.Client) -> None:
    body = listing(dart, bgn_de="20240101", end_de="20240331", page_count=100)
    assert {i["corp_name"] for i in body["list"]} == {"삼성전자", "SK하이닉스"}


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"crtfc_key": ""}, "010"),
        ({"crtfc_key": "bad-key"}, "010"),
        ({"crtfc_key": "bad-suspended"}, "011"),
        ({"corp_code": SAMSUNG, "bgn_de": "20240106", "end_de": "20240107"}, "013"),
        ({"corp_code": "99999999"}, "013"),
        ({"corp_code": SAMSUNG, "bgn_de": "2024-01-01"}, "100"),
        ({"corp_code": SAMSUNG, "page_count": "500"}, "100"),
        ({"bgn_de": "20230101", "end_de": "20240101"}, "100"),
    ],
)
def test_statuses(dart: httpx.Client, params, status) -> None:
    body = listing(dart, **params)
    assert body["status"] == status and body["message"]
    assert "list" not in body
    if status == "013":
        assert body["message"] == "조회된 데이타가 없습니다."

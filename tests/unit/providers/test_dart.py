"""OpenDART: filing lists with Korean titles, pagination, and every status code."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from core.errors import AuthError, BadPayload, NotFound, QuotaExhausted, Unavailable
from core.providers.dart import DartClient, dart_error, parse_list
from tests.unit.providers.conftest import (
    AAPL,
    SAMSUNG,
    Recorder,
    payload,
    raw,
    transport_client,
    utc,
)

DEC_1, JAN_31 = utc(2023, 12, 1), utc(2024, 1, 31)


def page(name: str) -> httpx.Response:
    return httpx.Response(200, content=raw(name))


def test_page_parses_korean_filings() -> None:
    result = parse_list(payload("dart_list_samsung_page1.json"), SAMSUNG, DEC_1, JAN_31)
    assert result.total_page == 2
    first = result.disclosures[0]
    assert first.title == "연결재무제표기준영업(잠정)실적(공정공시)"
    assert first.provider == "dart"
    assert first.provider_id == "20240109800014"
    assert first.instrument_id == "005930.KS"
    assert first.filer == "삼성전자"
    assert first.url == "https://dart.fss.or.kr/dsaf001/main.do?rcpNo=20240109800014"


def test_filed_at_is_midnight_seoul_in_utc() -> None:
    result = parse_list(payload("dart_list_samsung_page1.json"), SAMSUNG, DEC_1, JAN_31)
    assert result.disclosures[0].filed_at == utc(2024, 1, 8, 15, 0)
    assert result.disclosures[0].filed_at.tzinfo is UTC


def test_padded_report_names_are_trimmed() -> None:
    result = parse_list(payload("dart_list_samsung_page1.json"), SAMSUNG, DEC_1, JAN_31)
    assert result.disclosures[2].title == "[기재정정]주요사항보고서(자기주식취득결정)"


def test_window_is_half_open_on_filed_at() -> None:
    # 2024-01-05 00:00 Seoul is 2024-01-04 15:00 UTC
    start, end = utc(2024, 1, 4, 15, 0), utc(2024, 1, 8, 15, 0)
    result = parse_list(payload("dart_list_samsung_page1.json"), SAMSUNG, start, end)
    assert [d.provider_id for d in result.disclosures] == ["20240105000312"]


def test_no_data_is_an_empty_page() -> None:
    result = parse_list(payload("dart_status_013.json"), SAMSUNG, DEC_1, JAN_31)
    assert (result.disclosures, result.total_page) == ([], 0)
    assert dart_error(page("dart_status_013.json"), payload("dart_status_013.json")) is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["list"][1].pop("rcept_no"), "list[1].rcept_no"),
        (lambda d: d["list"][0].update({"rcept_dt": "2024-01-09"}), "list[0].rcept_dt"),
        (lambda d: d["list"][2].update({"report_nm": None}), "list[2].report_nm"),
        (lambda d: d.pop("total_page"), "total_page"),
    ],
)
def test_malformed_page_is_bad_payload(mutate, field: str) -> None:
    doc = copy.deepcopy(payload("dart_list_samsung_page1.json"))
    mutate(doc)
    with pytest.raises(BadPayload) as info:
        parse_list(doc, SAMSUNG, DEC_1, JAN_31)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("010", AuthError),
        ("011", AuthError),
        ("012", AuthError),
        ("901", AuthError),
        ("014", NotFound),
        ("020", QuotaExhausted),
        ("021", BadPayload),
        ("100", BadPayload),
        ("101", BadPayload),
        ("800", Unavailable),
        ("900", Unavailable),
    ],
)
def test_every_status_code(status: str, expected: type) -> None:
    name = f"dart_status_{status}.json"
    error = dart_error(page(name), payload(name))
    assert type(error) is expected
    assert f"status {status}" in str(error)
    assert payload(name)["message"] in str(error)  # the Korean message reaches the operator


def test_unknown_status_code_is_bad_payload() -> None:
    body = {"status": "999", "message": "?"}
    error = dart_error(httpx.Response(200, json=body), body)
    assert isinstance(error, BadPayload) and error.field == "status"


def test_http_failure_without_status_body() -> None:
    assert isinstance(dart_error(httpx.Response(503, text="점검 중"), None), Unavailable)


async def test_client_walks_every_page_and_dedupes() -> None:
    recorder = Recorder(page("dart_list_samsung_page1.json"), page("dart_list_samsung_page2.json"))
    client = DartClient("http://dart.test", api_key="K", http=transport_client(recorder))
    disclosures = await client.fetch_disclosures(SAMSUNG, DEC_1, JAN_31)
    assert [d.provider_id for d in disclosures] == [
        "20231229000412",
        "20240102800021",
        "20240103000158",
        "20240105000312",
        "20240109800014",
    ]
    assert [dict(r.url.params) for r in recorder.requests] == [
        {
            "crtfc_key": "K",
            "corp_code": "00126380",
            "bgn_de": "20231201",
            "end_de": "20240131",
            "page_no": str(n),
            "page_count": "100",
        }
        for n in (1, 2)
    ]
    assert recorder.requests[0].url.path == "/api/list.json"


async def test_client_dates_are_seoul_dates() -> None:
    recorder = Recorder(page("dart_status_013.json"))
    client = DartClient("http://dart.test", api_key="K", http=transport_client(recorder))
    # 15:00 UTC is already the next day in Seoul
    assert await client.fetch_disclosures(SAMSUNG, utc(2024, 1, 1, 15), utc(2024, 1, 2, 15)) == []
    params = recorder.requests[0].url.params
    assert (params["bgn_de"], params["end_de"]) == ("20240102", "20240103")


async def test_client_maps_the_daily_limit_to_a_spent_quota() -> None:
    recorder = Recorder(page("dart_status_020.json"))
    client = DartClient("http://dart.test", api_key="K", http=transport_client(recorder))
    with pytest.raises(QuotaExhausted):
        await client.fetch_disclosures(SAMSUNG, DEC_1, JAN_31)
    assert len(recorder.requests) == 1


async def test_instrument_without_corp_code_is_not_found_without_a_request() -> None:
    recorder = Recorder()
    client = DartClient("http://dart.test", api_key="K", http=transport_client(recorder))
    with pytest.raises(NotFound, match="corp code"):
        await client.fetch_disclosures(AAPL, DEC_1, JAN_31)
    assert recorder.requests == []


def test_daily_limit_lasts_until_midnight_in_seoul() -> None:
    name = "dart_status_020.json"
    before = datetime.now(UTC)
    error = dart_error(page(name), payload(name))
    assert not error.retryable and error.failover
    local = error.reset_at.astimezone(ZoneInfo("Asia/Seoul"))
    assert (local.hour, local.minute) == (0, 0)
    assert timedelta(0) < error.reset_at - before <= timedelta(hours=24)


def test_no_data_and_maintenance() -> None:
    assert dart_error(page("dart_status_013.json"), payload("dart_status_013.json")) is None
    error = dart_error(page("dart_status_800.json"), payload("dart_status_800.json"))
    assert type(error) is Unavailable and error.retryable


async def test_an_error_body_echoing_the_key_leaves_no_trace_of_it() -> None:
    key = "dart-key-0123456789abcdef"
    body = {"status": "010", "message": f"등록되지 않은 인증키입니다: {key}"}
    http = transport_client(lambda request: httpx.Response(200, json=body))
    client = DartClient("http://dart.test", api_key=key, http=http)
    with pytest.raises(AuthError) as info:
        await client.fetch_disclosures(SAMSUNG, DEC_1, JAN_31)
    assert key not in str(info.value) and key not in info.value.message
    assert "***" in info.value.message

"""Named scenarios: the admin switch, and each provider's real-world edge word for word."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from sim.providers.alphavantage import LIMIT_BURST
from sim.server import SimServer

AV = {"function": "TIME_SERIES_DAILY", "symbol": "AAPL", "apikey": "k"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(seed=7, scenarios={"dart": {"maintenance": True}}) as server:
        yield server


@pytest.fixture(autouse=True)
def clean(sim: SimServer) -> Iterator[None]:
    yield
    sim.clear_scenarios()
    sim.clear_faults()


def av(sim: SimServer, **params) -> dict:
    response = httpx.get(sim.urls["alphavantage"] + "/query", params={**AV, **params})
    assert response.status_code == 200
    return response.json()


def dart(sim: SimServer, key: str = "k", **params) -> dict:
    query = {"crtfc_key": key, "corp_code": "00126380", **params}
    return httpx.get(sim.urls["dart"] + "/api/list.json", params=query).json()


def test_admin_sets_reads_and_resets_scenarios(sim: SimServer) -> None:
    assert sim._admin("GET", "/_sim/scenarios/dart")["maintenance"] is True  # from the start
    installed = sim.set_scenarios("yahoo", {"live_row": True})
    assert installed == {"empty_timestamps": False, "live_row": True}
    assert sim._admin("GET", "/_sim/scenarios")["yahoo"]["live_row"] is True
    assert sim.set_scenarios("alphavantage", {"daily_quota": True})["daily_limit"] == 25
    assert sim.clear_scenarios("yahoo") == {"empty_timestamps": False, "live_row": False}
    with httpx.Client(base_url=sim.admin_url) as admin:
        assert admin.put("/_sim/scenarios/yahoo", json={"nope": True}).status_code == 400
        assert admin.put("/_sim/scenarios/yahoo", json={"live_row": 1}).status_code == 400
        assert admin.put("/_sim/scenarios/dart", json={"daily_limit": -1}).status_code == 400
        assert admin.get("/_sim/scenarios/bloomberg").status_code == 404
    everything = sim.clear_scenarios()
    assert not any(v is True for flags in everything.values() for v in flags.values())


def test_scenarios_at_start_in_a_subprocess() -> None:
    chosen = json.dumps({"alphavantage": {"empty": True}})
    with SimServer(seed=7, in_process=False, scenarios=json.loads(chosen)) as server:
        body = httpx.get(server.urls["alphavantage"] + "/query", params=AV).json()
        assert body == {}
    bad = subprocess.run(
        [sys.executable, "-m", "sim", "--scenarios", '{"yahoo": {"x": true}}'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "unknown yahoo scenarios" in bad.stderr


def test_alpha_vantage_premium_answers(sim: SimServer) -> None:
    sim.set_scenarios("alphavantage", {"premium_full": True, "premium_adjusted": True})
    assert av(sim, outputsize="full") == {
        "Information": "Thank you for using Alpha Vantage! The **outputsize=full parameter "
        "value is a premium feature** for the TIME_SERIES_DAILY endpoint. You may subscribe to "
        "any of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock "
        "all premium features"
    }
    assert len(av(sim, outputsize="compact")["Time Series (Daily)"]) == 100
    assert av(sim, function="TIME_SERIES_DAILY_ADJUSTED") == {
        "Information": "Thank you for using Alpha Vantage! This is a premium endpoint. You may "
        "subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to "
        "instantly unlock all premium endpoints"
    }


def test_alpha_vantage_demo_key_only_for_ibm(sim: SimServer) -> None:
    assert av(sim, apikey="demo") == {
        "Information": "The **demo** API key is for demo purposes only. Please claim your free "
        "API key at (https://www.alphavantage.co/support/#api-key) to explore our full API "
        "offerings. It takes fewer than 20 seconds."
    }
    assert "Error Message" in av(sim, apikey="demo", symbol="IBM")  # not in the sim's universe


def test_alpha_vantage_daily_quota_echoes_the_key(sim: SimServer) -> None:
    sim.set_scenarios("alphavantage", {"daily_quota": True, "daily_limit": 2})
    key = "AB12CD34EF56GH78"
    assert "Time Series (Daily)" in av(sim, apikey=key)
    assert "Time Series (Daily)" in av(sim, apikey=key)
    assert av(sim, apikey=key) == {
        "Information": f"We have detected your API key as {key} and our standard API rate limit "
        "is 2 requests per day. Please subscribe to any of the premium plans at "
        "https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."
    }
    assert "Time Series (Daily)" in av(sim, apikey="other-key")  # counted per key


def test_alpha_vantage_burst_and_empty(sim: SimServer) -> None:
    sim.set_scenarios("alphavantage", {"burst": True})
    assert "Time Series (Daily)" in av(sim)
    assert av(sim) == {"Information": LIMIT_BURST}
    assert LIMIT_BURST.startswith("Thank you for using Alpha Vantage! Please consider spreading")
    sim.set_faults("alphavantage", {"rate_limit": {"limit": 0, "variant": "burst"}})
    sim.clear_scenarios("alphavantage")
    assert av(sim) == {"Information": LIMIT_BURST}  # the fault's variant says the same
    sim.clear_faults()
    sim.set_scenarios("alphavantage", {"empty": True})
    assert av(sim) == {}
    assert "Time Series (Daily)" in av(sim, function="TIME_SERIES_DAILY_ADJUSTED")


def test_dart_no_data_quota_and_maintenance(sim: SimServer) -> None:
    sim.set_scenarios("dart", {"maintenance": True})
    assert dart(sim) == {"status": "800", "message": "시스템 점검으로 인한 서비스가 중지 중입니다."}
    sim.set_scenarios("dart", {"daily_quota": True, "daily_limit": 1})
    window = {"bgn_de": "20240101", "end_de": "20240131"}
    assert dart(sim, **window)["status"] == "000"
    assert dart(sim, **window) == {"status": "020", "message": "요청 제한을 초과하였습니다."}
    sim.clear_scenarios("dart")
    assert dart(sim, bgn_de="20240106", end_de="20240107") == {
        "status": "013",
        "message": "조회된 데이타가 없습니다.",
    }


def test_newsapi_odd_timestamps_and_null_descriptions(sim: SimServer) -> None:
    params = {"q": "Apple", "from": "2024-01-01", "to": "2024-02-29", "pageSize": 100}
    headers = {"X-Api-Key": "k"}
    plain = httpx.get(sim.urls["newsapi"] + "/v2/everything", params=params, headers=headers)
    sim.set_scenarios("newsapi", {"odd_published_at": True, "null_descriptions": True})
    odd = httpx.get(sim.urls["newsapi"] + "/v2/everything", params=params, headers=headers)
    plain_items, odd_items = plain.json()["articles"], odd.json()["articles"]
    assert all(a["publishedAt"].endswith("Z") for a in plain_items)
    stamps = [a["publishedAt"] for a in odd_items]
    assert any(s.endswith("+00:00") for s in stamps)
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", s) for s in stamps)
    assert any(a["description"] is None for a in odd_items)
    for before, after in zip(plain_items, odd_items, strict=True):  # same instants
        assert before["url"] == after["url"]
        assert after["publishedAt"][:19] == before["publishedAt"][:19]


SECRET = "sk-PLANTED-1234567890"


def test_echo_key_plants_the_key_in_every_error_body(sim: SimServer) -> None:
    for provider in ("alphavantage", "newsapi", "dart", "llm"):
        sim.set_scenarios(provider, {"echo_key": True})  # dart: maintenance off
    bad = "bad-" + SECRET
    news = httpx.get(sim.urls["newsapi"] + "/v2/everything", params={"q": "Apple", "apiKey": bad})
    assert news.status_code == 401 and news.json() == {
        "status": "error",
        "code": "apiKeyInvalid",
        "message": f"Your API key ({bad}) is invalid or incorrect. Check your key, or go to "
        "https://newsapi.org to create a free API key.",
    }
    assert dart(sim, key=bad) == {
        "status": "010",
        "message": f"등록되지 않은 키입니다. crtfc_key={bad}",
    }
    llm = httpx.get(sim.urls["llm"] + "/v1/models", headers={"Authorization": f"Bearer {bad}"})
    assert llm.status_code == 401
    assert llm.json()["error"]["message"].startswith(f"Incorrect API key provided: {bad}.")
    # Good keys: the injected errors and rate-limit answers carry the key too.
    sim.set_faults("alphavantage", {"rate_limit": {"limit": 0}})
    assert SECRET in av(sim, apikey=SECRET)["Information"]
    assert av(sim, apikey=SECRET)["Information"].startswith(
        f"We have detected your API key as {SECRET}"
    )
    sim.set_faults("alphavantage", {"error_rate": 1.0, "error_status": 502})
    page = httpx.get(sim.urls["alphavantage"] + "/query", params={**AV, "apikey": SECRET})
    assert page.status_code == 502 and SECRET in page.text
    sim.set_faults("newsapi", {"error_rate": 1.0})
    news = httpx.get(
        sim.urls["newsapi"] + "/v2/everything", params={"q": "Apple"}, headers={"X-Api-Key": SECRET}
    )
    assert news.status_code == 500 and SECRET in news.json()["message"]
    sim.set_faults("dart", {"rate_limit": {"limit": 0}})
    assert dart(sim, key=SECRET)["message"].endswith(f"crtfc_key={SECRET}")
    sim.set_faults("llm", {"rate_limit": {"limit": 0}})
    limited = httpx.get(
        sim.urls["llm"] + "/v1/models", headers={"Authorization": f"Bearer {SECRET}"}
    )
    assert limited.status_code == 429 and SECRET in limited.json()["error"]["message"]
    sim.clear_faults()
    assert "Time Series (Daily)" in av(sim, apikey=SECRET)  # successes are left alone
    sim.clear_scenarios()
    sim.set_faults("newsapi", {"error_rate": 1.0})
    news = httpx.get(
        sim.urls["newsapi"] + "/v2/everything", params={"q": "Apple"}, headers={"X-Api-Key": SECRET}
    )
    assert SECRET not in news.text  # off by default

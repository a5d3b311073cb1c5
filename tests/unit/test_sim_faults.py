"""Fault injection over real sockets: rate limits, outages, errors, corrupt and slow bodies."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from sim.server import SimServer

CHART = "/v8/finance/chart/AAPL?range=5d"
AV_DAILY = "/query?function=TIME_SERIES_DAILY&symbol=AAPL&apikey=k"
CALLS = {
    "yahoo": CHART,
    "alphavantage": AV_DAILY,
    "newsapi": "/v2/everything?q=Apple&apiKey=k",
    "dart": "/api/list.json?crtfc_key=k&corp_code=00126380&bgn_de=20240101&end_de=20240131",
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(seed=7) as server:
        yield server


@pytest.fixture(autouse=True)
def clean(sim: SimServer) -> Iterator[None]:
    sim.clear_faults()
    sim.reset_stats()
    yield
    sim.clear_faults()


def get(sim: SimServer, provider: str, path: str | None = None, **kwargs) -> httpx.Response:
    return httpx.get(sim.urls[provider] + (path or CALLS[provider]), **kwargs)


async def test_sliding_window_admits_exactly_the_limit(sim: SimServer) -> None:
    sim.set_faults("yahoo", {"rate_limit": {"limit": 5, "window_s": 5, "style": "http429"}})
    async with httpx.AsyncClient(base_url=sim.urls["yahoo"]) as client:
        responses = await asyncio.gather(*(client.get(CHART) for _ in range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [429] * 7
    limited = [r for r in responses if r.status_code == 429]
    assert all(1 <= int(r.headers["Retry-After"]) <= 5 for r in limited)
    stats = sim.stats()["yahoo"]
    assert (stats["requests"], stats["admitted"], stats["limited"]) == (12, 5, 7)
    assert stats["http_429"] == 7


def test_fixed_window_admits_again_in_the_next_window(sim: SimServer) -> None:
    sim.set_faults(
        "dart", {"rate_limit": {"limit": 2, "window_s": 0.4, "window": "fixed", "style": "http429"}}
    )
    first = [get(sim, "dart").status_code for _ in range(3)]
    assert first == [200, 200, 429]
    time.sleep(0.45)
    assert get(sim, "dart").status_code == 200
    assert sim.stats()["dart"]["limited"] == 1


@pytest.mark.parametrize(
    ("provider", "status", "marker"),
    [
        ("yahoo", 429, "Too Many Requests"),
        ("alphavantage", 200, '"Information":"Thank you for using Alpha Vantage'),
        ("newsapi", 429, '"code":"rateLimited"'),
        ("dart", 200, '"status":"020"'),
    ],
)
def test_provider_style_limit_bodies(sim: SimServer, provider, status, marker) -> None:
    sim.set_faults(provider, {"rate_limit": {"limit": 0}})
    response = get(sim, provider)
    assert response.status_code == status and marker in response.text
    assert "Retry-After" not in response.headers  # the real services send none


def test_alphavantage_note_variant_and_http429_style(sim: SimServer) -> None:
    sim.set_faults("alphavantage", {"rate_limit": {"limit": 0, "variant": "note"}})
    assert "call frequency" in get(sim, "alphavantage").json()["Note"]
    sim.set_faults("alphavantage", {"rate_limit": {"limit": 0, "style": "http429", "window_s": 60}})
    response = get(sim, "alphavantage")
    assert response.status_code == 429 and response.headers["Retry-After"] == "60"
    assert "rate limit" in response.json()["Information"]


def test_refuse_outage_closes_the_socket_then_recovers(sim: SimServer) -> None:
    sim.set_faults("newsapi", {"outage": {"mode": "refuse", "duration_s": 0.6}})
    with pytest.raises(httpx.ConnectError):
        get(sim, "newsapi")
    stats = sim.stats()["newsapi"]
    assert stats["listening"] is False and stats["outage"] == "refuse"
    time.sleep(0.8)
    assert get(sim, "newsapi").status_code == 200
    stats = sim.stats()["newsapi"]
    assert stats["listening"] is True and stats["refusals"] == 1 and stats["requests"] == 1


def test_refuse_until_cleared(sim: SimServer) -> None:
    port = sim.urls["dart"]
    sim.set_faults("dart", {"outage": {"mode": "refuse"}})
    time.sleep(0.3)
    with pytest.raises(httpx.ConnectError):
        get(sim, "dart")
    sim.clear_faults("dart")
    assert sim.urls["dart"] == port and get(sim, "dart").status_code == 200


def test_503_window_starts_later_and_ends(sim: SimServer) -> None:
    sim.set_faults("yahoo", {"outages": [{"mode": "503", "start_s": 0.3, "duration_s": 0.4}]})
    assert get(sim, "yahoo").status_code == 200
    time.sleep(0.4)
    during = get(sim, "yahoo")
    assert during.status_code == 503 and "<html>" in during.text
    time.sleep(0.45)
    assert get(sim, "yahoo").status_code == 200
    assert sim.stats()["yahoo"]["outage_503"] == 1


def test_error_rate_is_seeded(sim: SimServer) -> None:
    def run() -> list[int]:
        sim.set_faults("alphavantage", {"error_rate": 0.5, "error_status": [500, 502, 503]})
        with httpx.Client(base_url=sim.urls["alphavantage"]) as client:
            return [client.get(AV_DAILY).status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert 5 < sum(s >= 500 for s in first) < 25 and {500, 502, 503} & set(first)
    assert sim.stats()["alphavantage"]["errors_injected"] == sum(s >= 500 for s in first) * 2


def test_newsapi_injected_500_is_unexpected_error(sim: SimServer) -> None:
    sim.set_faults("newsapi", {"error_rate": 1.0})
    response = get(sim, "newsapi")
    assert response.status_code == 500 and response.json()["code"] == "unexpectedError"


def test_malformed_body_is_invalid_json(sim: SimServer) -> None:
    sim.set_faults("dart", {"malformed_rate": 1.0})
    response = get(sim, "dart")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert sim.stats()["dart"]["malformed"] == 1


def test_truncated_body_is_a_prefix_of_the_real_one(sim: SimServer) -> None:
    clean = get(sim, "yahoo", "/v8/finance/chart/AAPL?period1=1704153600&period2=1706745600")
    sim.set_faults("yahoo", {"truncated_rate": 1.0})
    cut = get(sim, "yahoo", "/v8/finance/chart/AAPL?period1=1704153600&period2=1706745600")
    assert 0 < len(cut.content) < len(clean.content)
    assert clean.content.startswith(cut.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)


def test_slow_response_outlasts_the_client_timeout(sim: SimServer) -> None:
    sim.set_faults("alphavantage", {"slow": {"rate": 1.0, "delay_s": 20}})
    start = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        get(sim, "alphavantage", timeout=0.3)
    assert time.perf_counter() - start < 2
    sim.set_faults("alphavantage", {"slow": {"rate": 1.0, "delay_s": 0.3}})
    start = time.perf_counter()
    assert get(sim, "alphavantage").status_code == 200
    assert time.perf_counter() - start >= 0.3
    assert sim.stats()["alphavantage"]["slow"] == 2


def test_latency(sim: SimServer) -> None:
    sim.set_faults("dart", {"latency": {"base_ms": 150, "jitter_ms": 20, "dist": "lognormal"}})
    start = time.perf_counter()
    assert get(sim, "dart").status_code == 200
    assert time.perf_counter() - start >= 0.15


def test_stats_add_up_and_reset(sim: SimServer) -> None:
    sim.set_faults("yahoo", {"rate_limit": {"limit": 2, "window_s": 10}, "error_rate": 0.0})
    for _ in range(4):
        get(sim, "yahoo")
    sim.set_faults("yahoo", {"outage": {"mode": "503"}})
    get(sim, "yahoo")
    stats = sim.stats()["yahoo"]
    assert stats["requests"] == stats["admitted"] + stats["limited"] + stats["outage_503"] == 5
    assert stats["by_status"] == {"200": 2, "429": 2, "503": 1} and stats["http_5xx"] == 1
    parser = pytest.importorskip("prometheus_client.parser")
    text = httpx.get(f"{sim.admin_url}/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parser.text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("stockray_sim_limited_total", (("provider", "yahoo"),))] == 2
    key = ("stockray_sim_responses_total", (("provider", "yahoo"), ("status", "503")))
    assert samples[key] == 1
    assert sim.reset_stats()["yahoo"]["requests"] == 0


def test_admin_validates_and_reports_faults(sim: SimServer) -> None:
    admin = sim.admin_url
    assert httpx.put(f"{admin}/_sim/faults/yahoo", json={"nope": 1}).status_code == 400
    bad = {"rate_limit": {"limit": 1, "window": "weekly"}}
    assert httpx.put(f"{admin}/_sim/faults/yahoo", json=bad).status_code == 400
    assert httpx.put(f"{admin}/_sim/faults/nobody", json={}).status_code == 404
    installed = sim.set_faults("yahoo", {"error_rate": 0.25})
    assert installed["error_rate"] == 0.25
    assert httpx.get(f"{admin}/_sim/faults").json()["yahoo"]["error_rate"] == 0.25
    assert httpx.delete(f"{admin}/_sim/faults").json()["yahoo"]["error_rate"] == 0.0
    with pytest.raises(ValueError, match="unknown fault keys"):
        sim.set_faults("yahoo", {"eror_rate": 0.2})


def test_faults_given_at_start(tmp_path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"dart": {"rate_limit": {"limit": 0}}}))
    with SimServer(seed=7, faults=faults) as sim:
        assert get(sim, "dart").json()["status"] == "020"
    with SimServer(seed=7, faults={"yahoo": {"error_rate": 1.0}}) as sim:
        assert get(sim, "yahoo").status_code == 500

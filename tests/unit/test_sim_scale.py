"""The sim at scale: several rate-limit windows at once, the realistic preset, NewsAPI OR
queries and a 700-instrument universe, over real sockets."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from cluster import sim_process
from configs.settings import load_settings
from sim.faults import FaultConfig, FaultState
from sim.limits import preset
from sim.server import SimServer
from sim.universe import Universe

CHART = "/v8/finance/chart/AAPL?range=5d"
WINDOW = {"from": "2024-01-01", "to": "2024-02-29"}
ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def decide(state: FaultState, n: int) -> list[str]:
    """`n` requests now: the label of the window that refused each, "ok" when admitted."""
    out = []
    for _ in range(n):
        decision = state.decide()
        out.append(decision.limit.label if decision.action == "limited" else "ok")
    return out


# -- several windows -------------------------------------------------------------------------


def test_per_second_and_hourly_windows_are_both_enforced() -> None:
    clock = FakeClock()
    config = FaultConfig.from_dict(
        {"rate_limit": [{"limit": 5, "window_s": 1}, {"limit": 12, "window_s": 3600}]}
    )
    state = FaultState("yahoo", 7, config, clock=clock)
    assert decide(state, 6) == ["ok"] * 5 + ["5/1s"]  # the 6th in a second is refused
    clock.now += 0.5
    assert decide(state, 1) == ["5/1s"]  # still within the second of the first five
    clock.now += 0.5
    assert decide(state, 6) == ["ok"] * 5 + ["5/1s"]
    clock.now += 1.0
    # 10 admitted so far; the hourly window refuses after 12 although the second is free.
    assert decide(state, 4) == ["ok", "ok", "12/3600s", "12/3600s"]
    clock.now += 3597.0
    assert decide(state, 1) == ["12/3600s"]  # refused requests counted in no window
    clock.now += 1.0
    assert decide(state, 5) == ["ok"] * 5  # the first five left the hour
    stats = state.stats.as_dict()
    assert (stats["requests"], stats["admitted"], stats["limited"]) == (23, 17, 6)
    assert stats["limited_by"] == {"5/1s": 3, "12/3600s": 3}


def test_the_window_that_frees_up_last_answers_in_its_own_variant() -> None:
    clock = FakeClock()
    faults = preset("realistic")["alphavantage"]
    state = FaultState("alphavantage", 7, FaultConfig.from_dict(faults), clock=clock)
    assert decide(state, 2) == ["ok", "1/1.2s"]
    assert state.decide().limit.variant == "burst"
    for _ in range(24):
        clock.now += 1.2
        assert decide(state, 1) == ["ok"]
    clock.now += 1.2  # the burst window is free, the day's 25 are used
    decision = state.decide()
    assert decision.limit.label == "25/86400s" and decision.limit.variant == "information"
    assert decision.retry_after_s == pytest.approx(86400 - 25 * 1.2)


def test_single_window_configs_keep_their_shape() -> None:
    one = {"limit": 5, "window_s": 5.0, "window": "fixed", "style": "http429", "variant": "note"}
    assert FaultConfig.from_dict({"rate_limit": one}).to_dict()["rate_limit"] == one
    assert FaultConfig.from_dict({}).to_dict()["rate_limit"] is None
    two = FaultConfig.from_dict({"rate_limit": [one, {**one, "limit": 9}]}).to_dict()
    assert [w["limit"] for w in two["rate_limit"]] == [5, 9]
    with pytest.raises(ValueError, match="window_s"):
        FaultConfig.from_dict({"rate_limit": [one, {"limit": 1, "window_s": 0}]})


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(seed=7) as server:
        yield server


async def test_two_windows_over_sockets_in_the_providers_format(sim: SimServer) -> None:
    windows = [{"limit": 5, "window_s": 3}, {"limit": 7, "window_s": 3600}]
    installed = sim.set_faults("yahoo", {"rate_limit": windows})
    assert [w["limit"] for w in installed["rate_limit"]] == [5, 7]
    sim.reset_stats()
    async with httpx.AsyncClient(base_url=sim.urls["yahoo"]) as client:
        first = await asyncio.gather(*(client.get(CHART) for _ in range(6)))
        await asyncio.sleep(3.1)  # the short window empties; the hourly one keeps its five
        second = [(await client.get(CHART)) for _ in range(3)]
    sim.clear_faults("yahoo")
    assert sorted(r.status_code for r in first) == [200] * 5 + [429]
    assert [r.status_code for r in second] == [200, 200, 429]
    refused = [r for r in (*first, *second) if r.status_code == 429]
    assert all(r.text.startswith("Too Many Requests") for r in refused)  # Yahoo's own body
    stats = sim.stats()["yahoo"]
    assert (stats["requests"], stats["admitted"], stats["limited"]) == (9, 7, 2)
    assert stats["limited_by"] == {"5/3s": 1, "7/3600s": 1}
    metrics = httpx.get(sim.admin_url + "/metrics").text
    assert 'stockray_sim_limited_by_window_total{provider="yahoo",window="7/3600s"} 1' in metrics


# -- the realistic preset --------------------------------------------------------------------


def test_realistic_preset_is_providers_yaml_limits() -> None:
    settings = load_settings(sim_limits="realistic")
    expected = {
        name: [(lim.requests, lim.per_s) for lim in cfg.limits]
        for name, cfg in settings.providers.providers.items()
        if cfg.limits
    }
    assert expected["yahoo"] == [(5, 1), (2000, 3600)]
    assert expected["newsapi"] == [(100, 86400)]
    assert expected["dart"] == [(10, 1), (20000, 86400)]
    assert (25, 86400) in expected["alphavantage"]
    for source in (preset("realistic"), sim_process.faults(settings)):
        got = {
            n: [(w["limit"], w["window_s"]) for w in f["rate_limit"]]
            for n, f in source.items()
            if n != "llm"
        }
        assert got == expected
    faults = sim_process.faults(settings)
    assert faults["llm"]["models"]  # the models llm.yaml names stay
    assert set(sim_process.faults(load_settings())) == {"llm"}  # off: no limits


def test_realistic_limits_answer_like_the_real_services() -> None:
    with SimServer(seed=7, limits="realistic") as sim:
        with httpx.Client(base_url=sim.urls["alphavantage"]) as av:  # two back to back
            first, second = av.get("/query?function=X&apikey=k"), av.get("/query?apikey=k")
        assert "Information" not in first.json()  # AV's own answer to an unknown function
        assert second.status_code == 200 and "1 request per second" in second.json()["Information"]
        with httpx.Client(base_url=sim.urls["newsapi"], headers={"X-Api-Key": "k"}) as news:
            statuses = [news.get("/v2/everything?q=nobody").status_code for _ in range(101)]
            refused = news.get("/v2/everything?q=nobody").json()
        assert statuses == [200] * 100 + [429] and refused["code"] == "rateLimited"
        faults = httpx.get(sim.admin_url + "/_sim/faults").json()
        assert [w["limit"] for w in faults["yahoo"]["rate_limit"]] == [5, 2000]
        assert faults["newsapi"]["rate_limit"]["limit"] == 100  # one window: its object form


def test_cli_limits_realistic_with_faults_on_top() -> None:
    extra = json.dumps({"dart": {"rate_limit": {"limit": 3}}})
    cmd = [sys.executable, "-m", "sim", "--limits", "realistic", "--faults", extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        faults = httpx.get(ready["admin_url"] + "/_sim/faults").json()
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()
    assert [w["window_s"] for w in faults["yahoo"]["rate_limit"]] == [1.0, 3600.0]
    assert faults["dart"]["rate_limit"]["limit"] == 3  # --faults keys win over the preset
    assert faults["alphavantage"]["rate_limit"][1]["limit"] == 25
    assert proc.returncode == 0


# -- NewsAPI OR queries ----------------------------------------------------------------------


def everything(sim: SimServer, **params) -> httpx.Response:
    return httpx.get(
        sim.urls["newsapi"] + "/v2/everything", params=params, headers={"X-Api-Key": "k"}
    )


def test_or_query_merges_the_articles_of_every_term(sim: SimServer) -> None:
    names = {"Apple": "Apple", "Microsoft": "Microsoft", "삼성전자": "Samsung Electronics"}
    query = '"Apple" OR "Microsoft" OR 삼성전자'
    merged = everything(sim, q=query, **WINDOW).json()
    articles = [a for a in merged["articles"] if a["title"] != "[Removed]"]
    for term, english in names.items():  # each article names the company it is about
        about = [a for a in articles if {term, english} & _mentioned(a, names)]
        assert about, term
    assert all(_mentioned(a, names) for a in articles)
    published = [a["publishedAt"] for a in articles]
    assert published == sorted(published, reverse=True)
    singles = sum(everything(sim, q=t, **WINDOW).json()["totalResults"] for t in names)
    assert merged["totalResults"] == singles  # no story is about two of them here
    pages = [
        everything(sim, q=query, pageSize=40, page=p, **WINDOW).json()["articles"] for p in (1, 2)
    ]
    assert len(pages[0]) == 40 and pages[0] + pages[1] == merged["articles"][:80]


def _mentioned(article: dict, names: dict[str, str]) -> set[str]:
    text = f"{article['title']} {article['description']}"
    return {n for pair in names.items() for n in pair if n in text}


def test_query_over_500_characters_is_refused(sim: SimServer) -> None:
    query = " OR ".join(f'"Company {n}"' for n in range(40))
    assert len(query) > 500
    response = everything(sim, q=query)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error" and body["code"] == "parameterInvalid"
    assert "500" in body["message"]
    assert everything(sim, q=query[:500]).status_code == 200


# -- 700 instruments -------------------------------------------------------------------------


def _watchlist(path: Path) -> Path:
    entries = yaml.safe_load((ROOT / "configs" / "watchlist.yaml").read_text())["instruments"]
    for ticker in ("GOOGL", "GOOG"):  # two share classes, one name in the news
        symbols = {"yahoo": ticker, "alphavantage": ticker, "newsapi": "Alphabet"}
        entries.append(_us(ticker, "Alphabet Inc.", symbols))
    for n in range(1, 499):
        entries.append(_us(f"US{n:03d}", f"Usco {n} Inc.", {"newsapi": f"Usco {n}"}))
    for n in range(1, 196):
        code = f"{100000 + n:06d}.KS"
        entries.append(
            {
                "id": code,
                "name": f"Hanguk {n} Co., Ltd.",
                "exchange": "KRX",
                "currency": "KRW",
                "timezone": "Asia/Seoul",
                "symbols": {
                    "yahoo": code,
                    "newsapi": "NAVER" if n == 1 else f"한국기업{n}",
                    "dart": f"{n:08d}",
                },
            }
        )
    assert len(entries) == 700
    path.write_text(yaml.safe_dump({"instruments": entries}, allow_unicode=True))
    return path


def _us(ticker: str, name: str, symbols: dict) -> dict:
    return {
        "id": ticker,
        "name": name,
        "exchange": "NYSE",
        "currency": "USD",
        "timezone": "America/New_York",
        "symbols": symbols,
    }


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    path = _watchlist(tmp_path_factory.mktemp("scale") / "watchlist.yaml")
    with SimServer(seed=7, watchlist_path=path) as server:
        yield server


def test_the_last_of_700_instruments_answers_everywhere(big: SimServer) -> None:
    listed = httpx.get(big.admin_url + "/_sim/universe").json()["instruments"]
    assert len(listed) == 700
    last = listed[-1]["id"]
    assert last == "100195.KS"
    chart = httpx.get(big.urls["yahoo"] + f"/v8/finance/chart/{last}?range=1mo")
    assert chart.status_code == 200
    assert chart.json()["chart"]["result"][0]["meta"]["symbol"] == last
    av = big.urls["alphavantage"] + f"/query?function=TIME_SERIES_DAILY&symbol={last}&apikey=k"
    assert httpx.get(av).json()["Time Series (Daily)"]
    news = everything(big, q="한국기업195", language="ko", **WINDOW).json()["articles"]
    assert news and all("한국기업195" in a["title"] for a in news if a["title"] != "[Removed]")
    dart = big.urls["dart"] + "/api/list.json?crtfc_key=k&corp_code=00000195&bgn_de=20230101"
    assert httpx.get(dart + "&end_de=20241231").json()["status"] == "000"


def test_one_name_for_two_instruments_brings_the_news_of_both(big: SimServer) -> None:
    truth = {
        s["instrument_id"]
        for s in big.truth_news(symbol="GOOGL,GOOG", provider="newsapi", **WINDOW)
    }
    assert truth == {"GOOGL", "GOOG"}
    articles = everything(big, q='"Alphabet" OR "Usco 498"', **WINDOW).json()["articles"]
    titles = [a["title"] for a in articles if a["title"] != "[Removed]"]
    assert any("Usco 498" in t for t in titles) and any("Alphabet" in t for t in titles)


def test_korean_news_writes_latin_names_as_they_are(big: SimServer) -> None:
    body = everything(big, q="NAVER", language="ko", **WINDOW).json()
    titles = [a["title"] for a in body["articles"] if a["title"] != "[Removed]"]
    assert titles and all("NAVER" in t for t in titles)
    assert any(ord(c) > 0xAC00 for t in titles for c in t)  # Hangul around the name


def test_find_is_an_index_not_a_scan(tmp_path: Path) -> None:
    universe = Universe.build(7, _watchlist(tmp_path / "watchlist.yaml"))
    last = universe.instruments[-1]
    universe.instruments = ()  # a lookup that scanned the instruments would find nothing now
    for term in ("100195.ks", "Hanguk 195 Co., Ltd.", "Hanguk 195", "한국기업195", "00000195"):
        assert universe.find(term) is last, term
    assert [i.id for i in universe.named("alphabet")] == ["GOOGL", "GOOG"]
    assert universe.find("nobody") is None and universe.named("nobody") == []
    assert universe.by_symbol("dart", "00000195") is last and len(universe.at("dart")) == 197


def test_up_serves_the_effective_watchlist(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    path = sim_process.write_watchlist(settings)
    assert path == tmp_path / "sim" / "watchlist.yaml"
    universe = Universe.build(7, path)
    assert [i.id for i in universe.instruments] == [i.id for i in settings.watchlist.instruments]
    samsung = universe.get("005930.KS")
    assert samsung.symbols["dart"] == "00126380" and samsung.korean_name == "삼성전자"

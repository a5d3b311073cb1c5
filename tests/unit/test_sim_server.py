"""SimServer as a whole: determinism across instances, universe options, subprocess, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sim.server import SimServer
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
CHART = "/v8/finance/chart/005930.KS?period1=1514764800&period2=1546300800&events=div,splits"
AV = "/query?function=TIME_SERIES_DAILY_ADJUSTED&symbol=MSFT&outputsize=full&apikey=k"
NEWS = "/v2/everything?q=SK하이닉스&from=2024-01-01&to=2024-03-01&apiKey=k"
DART = "/api/list.json?crtfc_key=k&corp_code=00164779&bgn_de=20240101&end_de=20240331"


def snapshot(sim: SimServer) -> dict:
    """Data answers that must not depend on the instance (Yahoo meta holds the clock)."""
    chart = httpx.get(sim.urls["yahoo"] + CHART).json()["chart"]["result"][0]
    del chart["meta"]
    return {
        "yahoo": chart,
        "alphavantage": httpx.get(sim.urls["alphavantage"] + AV).json(),
        "newsapi": httpx.get(sim.urls["newsapi"] + NEWS).json(),
        "dart": httpx.get(sim.urls["dart"] + DART).json(),
        "truth": sim.truth_news(symbol="000660.KS", **{"from": "2024-01-01", "to": "2024-02-01"}),
    }


def test_same_seed_same_data_across_instances() -> None:
    with SimServer(seed=11) as first:
        a = snapshot(first)
    with SimServer(seed=11) as second:
        b = snapshot(second)
    assert a == b
    assert a["yahoo"]["events"]["splits"]  # Samsung's 50:1 in 2018
    assert a["newsapi"]["totalResults"] > 0 and a["dart"]["status"] == "000"
    with SimServer(seed=12) as other:
        c = snapshot(other)
    assert c["yahoo"]["indicators"] != a["yahoo"]["indicators"]
    assert c["truth"] != a["truth"]


def test_watchlist_and_synthetic_symbols() -> None:
    with SimServer(
        seed=7, watchlist_path=ROOT / "configs/watchlist.yaml", extra_symbols=300
    ) as sim:
        universe = httpx.get(f"{sim.admin_url}/_sim/universe").json()["instruments"]
        assert len(universe) == 305 and universe[-1]["id"] == "SIM0300"
        split = next(i for i in universe if i["synthetic"] and i["splits"])
        chart = httpx.get(
            f"{sim.urls['yahoo']}/v8/finance/chart/{split['id']}",
            params={"range": "max", "events": "splits"},
        ).json()
        (event,) = chart["chart"]["result"][0]["events"]["splits"].values()
        assert event["splitRatio"] == split["splits"][0]["ratio"]
        news = httpx.get(
            f"{sim.urls['newsapi']}/v2/everything",
            params={"q": "SIM0042", "from": "2024-01-01", "to": "2024-06-30"},
            headers={"X-Api-Key": "k"},
        ).json()
        assert news["totalResults"] > 0


def test_fixed_ports_and_restart() -> None:
    ports = {"yahoo": free_port(), "dart": free_port(), "admin": free_port()}
    sim = SimServer(seed=7, ports=ports)
    assert sim.start() is sim
    try:
        assert sim.urls["yahoo"] == f"http://127.0.0.1:{ports['yahoo']}"
        assert sim.admin_url == f"http://127.0.0.1:{ports['admin']}"
    finally:
        sim.stop()
        sim.stop()  # twice is fine
    with pytest.raises(RuntimeError):
        _ = sim.urls
    with SimServer(seed=7, ports=ports) as again:  # the ports are free again
        assert httpx.get(again.admin_url + "/_sim/health").json()["ok"] is True
    with pytest.raises(ValueError, match="unknown providers"):
        SimServer(ports={"bloomberg": 1}).start()


def test_subprocess_mode_has_the_same_api() -> None:
    with SimServer(seed=11, in_process=False, faults={"dart": {"rate_limit": {"limit": 1}}}) as sim:
        assert httpx.get(sim.urls["yahoo"] + CHART).status_code == 200
        assert [httpx.get(sim.urls["dart"] + DART).json()["status"] for _ in range(2)] == [
            "000",
            "020",
        ]
        sim.set_faults("yahoo", {"outage": {"mode": "503"}})
        assert httpx.get(sim.urls["yahoo"] + CHART).status_code == 503
        stats = sim.stats()
        assert stats["yahoo"]["requests"] == 2 and stats["dart"]["limited"] == 1
        proc = sim._proc
    assert proc is not None and proc.returncode == 0  # stopped cleanly by SIGTERM


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_urls_and_stops_on_signal(tmp_path: Path, sig: int) -> None:
    ports = {name: free_port() for name in ("yahoo", "alphavantage", "newsapi", "dart", "admin")}
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"newsapi": {"error_rate": 1.0}}))
    port_arg = ",".join(f"{k}={v}" for k, v in ports.items() if k != "admin")
    cmd = [
        sys.executable,
        "-m",
        "sim",
        "--seed",
        "7",
        "--watchlist",
        "configs/watchlist.yaml",
        "--extra-symbols",
        "3",
        "--ports",
        port_arg,
        "--admin-port",
        str(ports["admin"]),
        "--faults",
        str(faults),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["urls"]["dart"] == f"http://127.0.0.1:{ports['dart']}"
        assert ready["admin_url"] == f"http://127.0.0.1:{ports['admin']}"
        assert httpx.get(ready["urls"]["newsapi"] + NEWS).status_code == 500
        assert httpx.get(ready["urls"]["yahoo"] + "/v8/finance/chart/SIM0003").status_code == 200
        proc.send_signal(sig)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_cli_rejects_bad_faults() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sim", "--faults", '{"yahoo": {"x": 1}}'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "unknown fault keys" in result.stderr

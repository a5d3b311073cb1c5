"""Alerts reach someone: `stockray monitoring up` runs the real Prometheus and Alertmanager
against a running `stockray up` stack; a Yahoo outage in the stack's simulator opens the
provider's circuit, StockrayProviderCircuitOpen fires, and Alertmanager POSTs it to a webhook
receiver this test runs; when the sim recovers, the resolved notice arrives too.

A whole stack, not the session's Ray cluster: the alert's series comes from the API's
/metrics (which gathers the provider actors' gauge from Ray's metrics agent), and what is
tested is that `monitoring up` finds and scrapes the stack `up` started. The rule's `for:
10m` and Alertmanager's waits are shortened by settings (STOCKRAY_ALERT_FOR_MAX_S, …), the
same rules and routes otherwise; providers.yaml is the test one (2 s circuit cooldown)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from cluster.state import StackState
from configs.settings import PACKAGE_CONFIG_DIR
from core.wait import eventually
from tests.integration.test_stack import Stack
from tests.support import free_port

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]
TEST_CONFIGS = Path(__file__).resolve().parent / "configs"
ALERT = "StockrayProviderCircuitOpen"
SECRET_PATH = "hook-secret-5c0ffee"


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every JSON body POSTed to it; it refuses
    (500) the first `refuse` POSTs. Its URL holds a secret path, as chat webhooks do."""

    def __init__(self, refuse: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies, refused = self.bodies, [0]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if refused[0] < refuse:
                    refused[0] += 1
                    self.send_response(500)
                else:
                    bodies.append(body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts/{SECRET_PATH}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def notices(self, status: str, alert: str = ALERT) -> list[dict[str, Any]]:
        """The notices about `alert` with this group status (`firing`, `resolved`)."""
        return [
            b for b in list(self.bodies)
            if b["status"] == status and b["commonLabels"].get("alertname") == alert
        ]  # fmt: skip


def _config_dir(root: Path) -> Path:
    """The package's YAML files with the test providers.yaml (short circuit cooldowns) and
    every schedule off, so only this test's collects call the providers."""
    target = root / "configs"
    target.mkdir()
    for path in PACKAGE_CONFIG_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    shutil.copy(TEST_CONFIGS / "providers.yaml", target / "providers.yaml")
    schedules = yaml.safe_load((PACKAGE_CONFIG_DIR / "schedules.yaml").read_text())
    for schedule in schedules["schedules"]:
        schedule["enabled"] = False
    (target / "schedules.yaml").write_text(yaml.safe_dump(schedules, sort_keys=False))
    return target


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


@pytest.fixture
def monitored(receiver: Receiver) -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="sra", dir="/tmp"))  # short: unix socket paths
    stack = Stack(root)
    stack.env |= {
        "STOCKRAY_CONFIG_DIR": str(_config_dir(root)),
        "STOCKRAY_PROMETHEUS_PORT": str(free_port()),
        "STOCKRAY_ALERTMANAGER_PORT": str(free_port()),
        "STOCKRAY_PROMETHEUS_SCRAPE_INTERVAL_S": "2",
        "STOCKRAY_PROMETHEUS_EVALUATION_INTERVAL_S": "1",
        "STOCKRAY_ALERT_FOR_MAX_S": "1",
        "STOCKRAY_ALERT_GROUP_WAIT_S": "1",
        "STOCKRAY_ALERT_GROUP_INTERVAL_S": "1",
        "STOCKRAY_ALERT_WEBHOOK_URL": receiver.url,
    }
    yield stack
    stack.run("monitoring", "down")
    stack.run("down")
    shutil.rmtree(root, ignore_errors=True)


def _sim(stack: Stack, method: str, path: str, body: dict | None = None) -> None:
    admin = StackState.load(stack.home).sim.admin_url
    assert admin, "`up` started no simulator"
    httpx.request(method, f"{admin}{path}", json=body, timeout=10).raise_for_status()


def _collect(stack: Stack, tickers: str) -> None:
    done = stack.run("collect", "--tickers", tickers, "--capabilities", "prices", "--no-analyze")
    # Failed-over or partly failed runs may exit non-zero; the alert is what is checked.
    assert "Traceback" not in done.stderr, done.stderr[-2000:]


def _pids(stack: Stack) -> list[int]:
    state = json.loads((stack.home / "monitoring" / "state.json").read_text())
    return [s["pid"] for s in state.values()]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_provider_outage_alerts_the_webhook_and_resolves(
    monitored: Stack, receiver: Receiver
) -> None:
    stack = monitored
    up = stack.run("up")
    assert up.returncode == 0, up.stdout + up.stderr
    started = stack.run("monitoring", "up")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "warning   → webhook" in started.stdout
    again = stack.run("monitoring", "up")  # idempotent: reloads what runs
    assert again.returncode == 0 and again.stdout.count("already running") == 2, again.stdout
    assert receiver.url not in started.stdout + again.stdout  # a secret: never printed

    # Prometheus scrapes the stack's API (with the token) and Ray's metrics agent.
    status = eventually(
        lambda: stack.run("monitoring", "status"),
        until=lambda s: s.returncode == 0 and "stockray-api up" in s.stdout
        and "ray-nodes up" in s.stdout,
        timeout_s=60, interval_s=2, what="both scrape targets up",
    )  # fmt: skip
    assert "alertmanager" in status.stdout

    _sim(stack, "PUT", "/_sim/faults/yahoo", {"outage": {"mode": "503"}})
    _collect(stack, "AAPL,MSFT,NVDA")  # three failed calls: Yahoo's circuit opens
    (firing, *_) = eventually(
        lambda: receiver.notices("firing"), timeout_s=90, interval_s=1, what="firing notice"
    )
    (alert,) = [a for a in firing["alerts"] if a["labels"]["alertname"] == ALERT]
    assert alert["labels"]["provider"] == "yahoo"
    assert alert["labels"]["severity"] == "warning"
    assert firing["receiver"] == "warning"
    assert "provider yahoo circuit open" in alert["annotations"]["summary"]

    _sim(stack, "DELETE", "/_sim/faults/yahoo")
    _collect(stack, "005930.KS")  # past the 2 s cooldown: the trial call succeeds, closed
    (resolved, *_) = eventually(
        lambda: receiver.notices("resolved"), timeout_s=90, interval_s=1, what="resolved notice"
    )
    assert {a["labels"]["provider"] for a in resolved["alerts"]} == {"yahoo"}
    assert all(a["status"] == "resolved" for a in resolved["alerts"])

    pids = _pids(stack)
    stopped = stack.run("monitoring", "down")
    assert stopped.returncode == 0 and stopped.stdout.count("stopped") == 2, stopped.stdout
    assert not [p for p in pids if _alive(p)]
    assert stack.run("monitoring", "status").returncode == 1
    assert stack.run("monitoring", "down").returncode == 0  # nothing running is fine


def test_stack_down_is_a_repeated_disaster_that_inhibits_the_rest(tmp_path: Path) -> None:
    """No stack at all: both scrape targets are down, so StockrayStackDown (disaster) and
    StockrayApiDown (critical) fire; only the first reaches the webhook, again and again.
    The webhook refuses the first notice: Alertmanager logs the failure, URL redacted."""
    receiver = Receiver(refuse=1)
    am_port = free_port()
    env = {
        **os.environ,
        "STOCKRAY_HOME": str(tmp_path / "home"),
        "STOCKRAY_METRICS_TOKEN": "alerting-test-token-0123456789",
        "STOCKRAY_API_PORT": str(free_port()),  # nothing listens on these
        "STOCKRAY_RAY_METRICS_PORT": str(free_port()),
        "STOCKRAY_PROMETHEUS_PORT": str(free_port()),
        "STOCKRAY_ALERTMANAGER_PORT": str(am_port),
        "STOCKRAY_PROMETHEUS_SCRAPE_INTERVAL_S": "1",
        "STOCKRAY_PROMETHEUS_EVALUATION_INTERVAL_S": "1",
        "STOCKRAY_ALERT_FOR_MAX_S": "1",
        "STOCKRAY_ALERT_GROUP_WAIT_S": "1",
        "STOCKRAY_ALERT_GROUP_INTERVAL_S": "1",
        "STOCKRAY_ALERT_DISASTER_REPEAT_S": "2",
        "STOCKRAY_ALERT_WEBHOOK_URL": receiver.url,
    }

    def stockray(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cluster.cli", "monitoring", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    try:
        started = stockray("up")
        assert started.returncode == 0, started.stdout + started.stderr
        repeated = eventually(
            lambda: receiver.notices("firing", "StockrayStackDown"),
            until=lambda found: len(found) >= 2,
            timeout_s=60, interval_s=0.5, what="two StockrayStackDown notices",
        )  # fmt: skip
        assert {n["receiver"] for n in repeated} == {"disaster"}

        def api_down() -> list[dict[str, Any]]:
            alerts = httpx.get(f"http://127.0.0.1:{am_port}/api/v2/alerts", timeout=5).json()
            return [a for a in alerts if a["labels"]["alertname"] == "StockrayApiDown"]

        (held,) = eventually(api_down, timeout_s=30, interval_s=0.5, what="StockrayApiDown")
        assert held["status"]["state"] == "suppressed" and held["status"]["inhibitedBy"]
        assert receiver.notices("firing", "StockrayApiDown") == []
        assert "1 silenced or inhibited" in stockray("status").stdout
        log = (tmp_path / "home" / "logs" / "alertmanager.log").read_text()
        assert "unexpected status code 500: <redacted>" in log, log[-2000:]
        assert SECRET_PATH not in log
    finally:
        stockray("down")
        receiver.server.shutdown()

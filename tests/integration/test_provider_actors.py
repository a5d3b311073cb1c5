"""Provider actors and the router on a real Ray cluster, against the sim over real sockets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import ray

from actors import NAMESPACE
from actors.events import events_handle
from actors.providers import (
    ROUTER_NAME,
    ProviderRouter,
    provider_actor_name,
    provider_handle,
    router_handle,
)
from configs.settings import load_settings
from core.errors import NotFound, PlanLimit, QuotaExhausted
from core.models import Instrument
from core.resilience import CircuitOpen
from core.wait import poll
from sim.server import SimServer
from tests.support import kill_actor

START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
# Prices: a recent window, within what Alpha Vantage's free plan (the default) serves.
RECENT_END = datetime.now(UTC)
RECENT_START = RECENT_END - timedelta(days=60)
PROVIDERS = ("yahoo", "alphavantage", "newsapi", "dart")


def _kill(name: str) -> None:
    kill_actor(name, NAMESPACE)


@pytest.fixture
def router(ray_cluster, sim: SimServer) -> Iterator[ray.actor.ActorHandle]:
    """A fresh router and provider actors (closed circuits, empty counts), sim without faults."""
    sim.clear_faults()
    sim.clear_scenarios()
    for name in (ROUTER_NAME, *(provider_actor_name(p) for p in PROVIDERS)):
        _kill(name)
    yield router_handle()
    sim.clear_faults()
    sim.clear_scenarios()
    # A test may leave a circuit held open until midnight (a spent quota): later tests of
    # the session start from fresh actors, not from that.
    for name in (ROUTER_NAME, *(provider_actor_name(p) for p in PROVIDERS)):
        _kill(name)


@pytest.fixture(scope="module")
def instruments(ray_cluster) -> dict[str, Instrument]:
    settings = load_settings(config_dir=ray_cluster.config_dir)
    return {i.id: i.to_instrument() for i in settings.watchlist.instruments if i.id != "GHOST"}


def _bars(router, instrument: Instrument, start=RECENT_START, end=RECENT_END):
    return ray.get(router.fetch_bars.remote(instrument, start, end, "1d"), timeout=60)


def test_primary_serves_when_healthy(router, instruments) -> None:
    routed = _bars(router, instruments["AAPL"])
    assert routed.provider == "yahoo"
    assert routed.failovers == ()
    assert len(routed.result.bars) > 30
    assert all(
        b.provider == "yahoo" and RECENT_START <= b.ts < RECENT_END for b in routed.result.bars
    )


@pytest.mark.parametrize(
    ("faults", "outcome"),
    [
        ({"outage": {"mode": "refuse"}}, "unavailable"),
        ({"outage": {"mode": "503"}}, "unavailable"),
        ({"rate_limit": {"limit": 1, "window_s": 30, "style": "http429"}}, "rate_limited"),
        ({"slow": {"rate": 1.0, "delay_s": 5}}, "timeout"),
        ({"malformed_rate": 1.0}, "bad_payload"),
        ({"truncated_rate": 1.0}, "bad_payload"),
    ],
    ids=["refused", "503", "429", "slow", "malformed", "truncated"],
)
def test_failover_to_secondary(router, instruments, sim: SimServer, faults, outcome) -> None:
    if "rate_limit" in faults:
        sim.set_faults("yahoo", faults)
        _bars(router, instruments["MSFT"])  # uses the one request the window admits
    else:
        sim.set_faults("yahoo", faults)
    routed = _bars(router, instruments["AAPL"])
    assert routed.provider == "alphavantage"
    assert routed.failovers == (("yahoo", outcome),)
    assert len(routed.result.bars) > 30
    health = ray.get(router.health.remote())
    assert health["yahoo"]["last_error"]["type"] == outcome


def test_a_burst_through_a_refused_primary_is_all_answered_by_the_fallback(
    router, instruments, sim: SimServer
) -> None:
    # More calls than the fallback's 10 connections, each held 0.7 s: the last of them
    # queue past its timeout_s (2 s). Queued in httpx's pool that was a Timeout the circuit
    # counted, so the fallback's circuit opened too; queued in the service, within the
    # call's deadline, every call is answered and nothing counts against the fallback.
    sim.set_faults("yahoo", {"outage": {"mode": "refuse"}})
    sim.set_faults("alphavantage", {"latency": {"base_ms": 700}})
    refs = [
        router.fetch_bars.remote(instruments["AAPL"], RECENT_START, RECENT_END, "1d")
        for _ in range(40)
    ]
    routed = ray.get(refs, timeout=60)
    assert {r.provider for r in routed} == {"alphavantage"}
    assert all(len(r.result.bars) > 30 for r in routed)
    health = ray.get(router.health.remote())["alphavantage"]
    assert health["circuit"]["state"] == "closed"
    assert health["counts"] == {"ok": 40}


def test_unknown_symbol_is_not_found_without_failover(router) -> None:
    ghost = Instrument("ZZZZ", "Nobody", "NASDAQ", "USD", "America/New_York", {})
    with pytest.raises(NotFound, match="unknown symbol ZZZZ"):
        _bars(router, ghost)
    health = ray.get(router.health.remote())
    assert health["alphavantage"]["counts"] == {}


def test_circuit_opens_then_recovers(router, instruments, sim: SimServer) -> None:
    hub = events_handle()
    start_id = max((e["id"] for e in ray.get(hub.since.remote(0))), default=0)
    sim.set_faults("yahoo", {"outage": {"mode": "503"}})
    for _ in range(3):  # one attempt each (failover is possible) = failure_threshold
        assert _bars(router, instruments["AAPL"]).provider == "alphavantage"
    health = ray.get(router.health.remote())
    assert health["yahoo"]["circuit"]["state"] == "open"
    before = sim.stats()["yahoo"]["requests"]
    routed = _bars(router, instruments["AAPL"])
    assert routed.failovers == (("yahoo", "circuit_open"),)
    assert sim.stats()["yahoo"]["requests"] == before  # an open circuit sends nothing

    sim.clear_faults("yahoo")
    time.sleep(2.2)  # cooldown_s in tests/integration/configs/providers.yaml
    assert _bars(router, instruments["AAPL"]).provider == "yahoo"
    assert ray.get(router.health.remote())["yahoo"]["circuit"]["state"] == "closed"
    # Each change was announced once, in order, with the error that opened it.
    changes = [
        e["payload"] for e in ray.get(hub.since.remote(start_id, ["provider.circuit"]))
        if e["payload"]["provider"] == "yahoo"
    ]  # fmt: skip
    assert [c["state"] for c in changes] == ["open", "closed"]
    assert changes[0]["previous"] == "closed" and changes[0]["last_error"]


def test_plan_limit_fails_over_without_a_request(router, instruments, sim: SimServer) -> None:
    sim.set_faults("yahoo", {"outage": {"mode": "503"}})
    before = sim.stats()["alphavantage"]["requests"]
    with pytest.raises(PlanLimit, match="latest 100 sessions"):  # AV is the last provider
        _bars(router, instruments["AAPL"], START, END)  # 2024: beyond the free plan
    assert sim.stats()["alphavantage"]["requests"] == before  # refused up front
    health = ray.get(router.health.remote())["alphavantage"]
    assert health["plan"] == "free" and health["circuit"]["state"] == "closed"
    assert health["last_error"]["type"] == "plan_limit"


def test_spent_daily_quota_holds_the_circuit_open_until_midnight_in_new_york(
    router, instruments, sim: SimServer
) -> None:
    hub = events_handle()
    start_id = max((e["id"] for e in ray.get(hub.since.remote(0))), default=0)
    sim.set_faults("yahoo", {"outage": {"mode": "503"}})
    sim.set_scenarios("alphavantage", {"daily_quota": True, "daily_limit": 0})
    before = sim.stats()["alphavantage"]["requests"]
    with pytest.raises(QuotaExhausted):
        _bars(router, instruments["AAPL"])
    assert sim.stats()["alphavantage"]["requests"] == before + 1  # not retried
    health = ray.get(router.health.remote())["alphavantage"]
    assert health["quota"]["exhausted"] is True
    reset_at = datetime.fromisoformat(health["quota"]["reset_at"])
    assert reset_at.astimezone(ZoneInfo("America/New_York")).time().isoformat() == "00:00:00"
    assert health["circuit"]["state"] == "open" and health["circuit"]["reason"] == "quota"
    assert health["circuit"]["retry_in_s"] > 2  # held past the 2 s cooldown, until the reset

    time.sleep(2.2)  # longer than cooldown_s: still open, nothing sent
    with pytest.raises(CircuitOpen, match="quota spent until"):
        _bars(router, instruments["AAPL"])
    assert sim.stats()["alphavantage"]["requests"] == before + 1
    (change,) = [
        e["payload"] for e in ray.get(hub.since.remote(start_id, ["provider.circuit"]))
        if e["payload"]["provider"] == "alphavantage"
    ]  # fmt: skip
    assert change["state"] == "open" and change["quota"]["exhausted"] is True


def test_news_and_disclosures_route(router, instruments) -> None:
    samsung = instruments["005930.KS"]
    news = ray.get(router.fetch_news.remote(samsung, START, END), timeout=60)
    assert news.provider == "newsapi"
    assert news.result and all(a.language == "ko" for a in news.result)
    filings = ray.get(router.fetch_disclosures.remote(samsung, START, END), timeout=60)
    assert filings.provider == "dart"
    assert filings.result and all(d.instrument_id == "005930.KS" for d in filings.result)


def test_provider_without_key_is_disabled_and_skipped(ray_cluster, instruments, sim) -> None:
    sim.clear_faults()
    keyless = ProviderRouter.options(
        name="router-without-newsapi-key",
        runtime_env={"env_vars": {"STOCKRAY_PROVIDER_KEYS__NEWSAPI": ""}},
    ).remote()
    try:
        health = ray.get(keyless.health.remote(), timeout=60)
        assert health["newsapi"] == {
            "provider": "newsapi",
            "enabled": False,
            "reason": "no API key (set STOCKRAY_PROVIDER_KEYS__NEWSAPI)",
        }
        news = ray.get(keyless.fetch_news.remote(instruments["AAPL"], START, END), timeout=60)
        assert news.provider == "alphavantage"
        assert news.failovers == ()  # skipped, not tried
    finally:
        ray.kill(keyless)


def test_actor_restart_mid_run_loses_no_request(router, instruments, sim: SimServer) -> None:
    _bars(router, instruments["AAPL"])  # router and provider actors are up
    sim.set_faults("yahoo", {"latency": {"base_ms": 500}})  # under the 1 s client timeout
    sent_before = sim.stats()["yahoo"]["requests"]
    ids = list(instruments)
    refs = [
        router.fetch_bars.remote(instruments[ids[i % len(ids)]], RECENT_START, RECENT_END)
        for i in range(30)
    ]
    # Kill while the sim is still holding these requests.
    poll(
        lambda: sim.stats()["yahoo"]["requests"] - sent_before >= 20, timeout_s=30, interval_s=0.02
    )
    yahoo = ray.get_actor(provider_actor_name("yahoo"), namespace=NAMESPACE)
    ray.kill(yahoo, no_restart=False)  # crash: Ray restarts it and retries in-flight calls
    results = ray.get(refs, timeout=120)
    assert len(results) == 30
    assert all(len(r.result.bars) > 30 for r in results)
    # In-flight calls were re-sent to the restarted actor (or, if slow, failed over).
    assert sim.stats()["yahoo"]["requests"] - sent_before > 30
    # The restarted actor serves again.
    assert ray.get(provider_handle("yahoo").health.remote())["provider"] == "yahoo"


def test_metrics_are_exported_by_the_node(router, instruments, ray_cluster) -> None:
    _bars(router, instruments["AAPL"])
    url = f"http://127.0.0.1:{ray_cluster.metrics_port}/metrics"
    text = poll(
        lambda: httpx.get(url, timeout=5).text,
        until=lambda page: "stockray_provider_requests_total" in page,
        timeout_s=60,
        interval_s=2,
    )
    assert "stockray_provider_requests_total{" in text
    assert 'outcome="ok"' in text
    assert "stockray_provider_request_seconds" in text
    assert "stockray_provider_ratelimit_wait_seconds" in text

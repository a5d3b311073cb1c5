"""The collect and backfill jobs, run as a user runs them, against the session's cluster."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import ray

from actors.events import events_handle
from core.models import Instrument
from core.providers import YahooClient
from core.storage.db import connect
from core.wait import poll
from sim.server import SimServer
from tests.support import kill_actor

pytestmark = pytest.mark.timeout(600)


def _run(cluster, module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=cluster.job_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _summary(done: subprocess.CompletedProcess) -> dict:
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout + done.stderr
    return json.loads(lines[-1])


def _sql(dsn: str, query: str, *args: object) -> object:
    async def go() -> object:
        conn = await connect(dsn)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def _no_faults(sim: SimServer):
    sim.clear_faults()
    yield
    sim.clear_faults()


def test_collect_stores_then_rerun_saves_nothing(ray_cluster) -> None:
    hub = events_handle()
    start_id = max((e["id"] for e in ray.get(hub.since.remote(0))), default=0)
    first = _run(ray_cluster, "jobs.collect", "--tickers", "AAPL,005930.KS")
    assert first.returncode == 0, first.stderr[-2000:]
    summary = _summary(first)
    assert summary["failed"] == {}
    assert summary["counts"]["saved"] > 250  # a year of bars, news, filings
    status, trace = _sql(
        ray_cluster.dsn,
        "SELECT ARRAY[status, trace_id] FROM job_runs WHERE id = $1::uuid",
        summary["run_id"],
    )
    assert (status, trace) == ("succeeded", summary["trace_id"])
    events = ray.get(events_handle().since.remote(0, ["collected"]))
    assert {e["payload"]["instrument"] for e in events} >= {"AAPL", "005930.KS"}
    # What clients see live: the newest bar (with the close before it), new articles, and
    # the run's progress, published after the rows commit; ids only go up.
    live = ray.get(hub.since.remote(start_id, ["bar", "article", "job.progress"]))
    bars = [e for e in live if e["type"] == "bar"]
    assert {e["instrument"] for e in bars} == {"AAPL", "005930.KS"}
    aapl = next(e["payload"] for e in bars if e["instrument"] == "AAPL")
    newest = _sql(
        ray_cluster.dsn,
        "SELECT close FROM bars WHERE instrument_id = 'AAPL' AND interval = '1d' "
        "ORDER BY ts DESC LIMIT 1",
    )
    assert aapl["close"] == pytest.approx(newest) and aapl["previous_close"] is not None
    articles = [e for e in live if e["type"] == "article"]
    assert articles and all(e["payload"]["title"] and e["payload"]["url"] for e in articles)
    progress = [e["payload"] for e in live if e["type"] == "job.progress"]
    # One step per planned request: prices and filings one each, news per language batch.
    planned = summary["plan"]["requests"]
    assert planned == 5 and summary["plan"]["deferred"] == 0
    assert [(p["done"], p["total"]) for p in progress] == [(i, planned) for i in range(1, 6)]
    assert [e["id"] for e in live] == sorted(e["id"] for e in live)

    again = _summary(_run(ray_cluster, "jobs.collect", "--tickers", "AAPL,005930.KS"))
    assert again["counts"]["saved"] == 0
    assert again["counts"]["fetched"] < summary["counts"]["fetched"]  # from the watermarks


def test_collect_asks_newsapi_for_several_companies_in_one_request(ray_cluster, sim) -> None:
    before = sim.stats()["newsapi"]["requests"]
    done = _run(
        ray_cluster, "jobs.collect", "--tickers", "MSFT,NVDA,000660.KS", "--capabilities",
        "news", "--no-analyze",
    )  # fmt: skip
    summary = _summary(done)
    assert done.returncode == 0 and summary["failed"] == {}, done.stderr[-2000:]
    # The two US companies share one query; the Korean one is asked in Korean on its own.
    assert summary["plan"]["per_provider"]["newsapi"]["requests"] == 2
    assert sim.stats()["newsapi"]["requests"] - before == 2
    for ticker, name in (("MSFT", "Microsoft"), ("NVDA", "NVIDIA")):
        linked = _sql(
            ray_cluster.dsn,
            "SELECT array_agg(a.title || ' ' || coalesce(a.summary, '')) FROM articles a "
            "JOIN article_instruments l USING (fingerprint) WHERE l.instrument_id = $1",
            ticker,
        )
        assert linked, f"no article stored for {ticker}"
        assert all(name.lower() in text.lower() for text in linked)  # each names its company


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tickers", "TSLA", "--start", "2020-01-01", "--end", "2020-02-01"],
         "--tickers: unknown ticker TSLA"),
        (["--tickers", "AAPL", "--start", "2021-01-01", "--end", "2020-02-01"],
         "--start 2021-01-01 is after --end 2020-02-01"),
        (["--tickers", "AAPL", "--start", "2020-01-01", "--end", "2020-02-01", "--interval", "2h"],
         "--interval '2h' is not served"),
        (["--tickers", "AAPL", "--start", "2020-01-01", "--end", "2020-02-01", "--interval", "1m"],
         "--start 2020-01-01: prices reach back only 30 days"),
        (["--tickers", "AAPL", "--start", "2020-13-01", "--end", "2021-02-01"],
         "--start: '2020-13-01' is not a date"),
    ],
)  # fmt: skip
def test_backfill_rejects_bad_arguments_before_any_work(ray_cluster, args, message) -> None:
    before = _sql(ray_cluster.dsn, "SELECT count(*) FROM job_runs WHERE kind = 'backfill'")
    done = _run(ray_cluster, "jobs.backfill", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    after = _sql(ray_cluster.dsn, "SELECT count(*) FROM job_runs WHERE kind = 'backfill'")
    assert after == before


async def _expected_bars(sim: SimServer, symbol: str, start: datetime, end: datetime) -> int:
    return len(await _yahoo_bars(sim, symbol, start, end))


def test_killed_backfill_resumes_to_exactly_the_expected_rows(ray_cluster, sim) -> None:
    args = [
        "--tickers",
        "MSFT",
        "--start",
        "2005-01-01",
        "--end",
        "2012-12-31",
        "--chunk-days",
        "300",
    ]  # 10 chunks: each new task worker takes seconds to start on a small machine
    sim.set_faults("yahoo", {"latency": {"base_ms": 400}})  # slow enough to kill mid-run
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.backfill", *args],
        env=ray_cluster.job_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    done_sql = (  # this backfill's chunks only: other tests backfill MSFT too (2024)
        "SELECT count(*) FROM backfill_chunks WHERE status = 'done' AND instrument_id = 'MSFT' "
        "AND period_end <= '2013-01-01'"
    )
    poll(lambda: _sql(ray_cluster.dsn, done_sql) >= 4, timeout_s=120, interval_s=0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    partial = _sql(ray_cluster.dsn, done_sql)
    assert partial >= 4

    sim.clear_faults()
    resumed = _run(ray_cluster, "jobs.backfill", *args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = _summary(resumed)
    assert summary["chunks_skipped"] >= partial
    assert summary["chunks_done"] + summary["chunks_skipped"] == summary["chunks_total"]

    start, end = datetime(2005, 1, 1, tzinfo=UTC), datetime(2013, 1, 1, tzinfo=UTC)
    stored = _sql(
        ray_cluster.dsn,
        "SELECT count(*) FROM bars WHERE instrument_id = 'MSFT' AND interval = '1d' "
        "AND ts >= $1 AND ts < $2",
        start,
        end,
    )
    assert stored == asyncio.run(_expected_bars(sim, "MSFT", start, end))

    third = _summary(_run(ray_cluster, "jobs.backfill", *args))
    assert third["chunks_skipped"] == third["chunks_total"]
    assert third["rows"] == 0


def test_permanent_failure_fails_only_its_chunks(ray_cluster) -> None:
    done = _run(
        ray_cluster, "jobs.backfill",
        "--tickers", "GHOST,NVDA", "--start", "2019-01-01", "--end", "2020-12-31",
    )  # fmt: skip
    assert done.returncode == 1
    summary = _summary(done)
    assert sorted(summary["chunks_failed"]) == [
        "GHOST/prices/2019-01-01",
        "GHOST/prices/2020-01-02",
    ]
    assert all("NotFound" in v for v in summary["chunks_failed"].values())
    assert summary["chunks_done"] == 2  # NVDA's two years
    assert "GHOST/prices/2019-01-01" in _sql(
        ray_cluster.dsn, "SELECT error FROM job_runs WHERE id = $1::uuid", summary["run_id"]
    )


def _fresh_provider_actors() -> None:
    from actors import NAMESPACE
    from actors.providers import ROUTER_NAME, provider_actor_name

    for name in (ROUTER_NAME, *(provider_actor_name(p) for p in ("yahoo", "alphavantage"))):
        kill_actor(name, NAMESPACE)


def test_quota_spent_mid_backfill_stores_nothing_wrong_and_a_rerun_completes(
    ray_cluster, sim
) -> None:
    # Yahoo is down, so prices fail over to Alpha Vantage (free plan: a recent window), whose
    # key has two requests left today: two chunks come from AV, the rest wait for the quota.
    _fresh_provider_actors()
    last = datetime.now(UTC).date() - timedelta(days=1)
    first = last - timedelta(days=59)
    args = ["--tickers", "AAPL", "--start", first.isoformat(), "--end", last.isoformat(),
            "--chunk-days", "10"]  # fmt: skip
    sim.set_faults("yahoo", {"outage": {"mode": "503"}})
    sim.set_scenarios("alphavantage", {"daily_quota": True, "daily_limit": 2})
    try:
        spent = _run(ray_cluster, "jobs.backfill", *args)
    finally:
        sim.clear_faults()
        sim.clear_scenarios()
    assert spent.returncode == 1, spent.stderr[-2000:]
    summary = _summary(spent)
    # At most the two requests left are served (under load they may time out instead); every
    # other chunk fails, named, the quota among the reasons.
    done = summary["chunks_done"]
    assert summary["chunks_total"] == 6 and done <= 2
    assert len(summary["chunks_failed"]) == 6 - done
    assert any("quota" in reason.lower() for reason in summary["chunks_failed"].values())
    error = _sql(ray_cluster.dsn, "SELECT error FROM job_runs WHERE id = $1::uuid",
                 summary["run_id"])  # fmt: skip
    assert all(name in error for name in summary["chunks_failed"])

    _fresh_provider_actors()  # AV's circuit stays open until midnight New York otherwise
    rerun = _run(ray_cluster, "jobs.backfill", *args)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    again = _summary(rerun)
    assert (again["chunks_skipped"], again["chunks_done"]) == (done, 6 - done)

    # What is stored is what Yahoo serves, bar for bar, whoever served each chunk.
    start = datetime.combine(first, datetime.min.time(), UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
    stored = _sql(
        ray_cluster.dsn,
        "SELECT array_agg(ARRAY[extract(epoch FROM ts), close] ORDER BY ts) FROM bars "
        "WHERE instrument_id = 'AAPL' AND interval = '1d' AND ts >= $1 AND ts < $2",
        start, end,
    )  # fmt: skip
    truth = asyncio.run(_yahoo_bars(sim, "AAPL", start, end))
    assert [(ts, pytest.approx(close)) for ts, close in stored] == [
        (b.ts.timestamp(), b.close) for b in truth
    ]
    # The checkpoints say who served each chunk (the bars table may hold the same values
    # from an earlier collection by Yahoo: an equal row is not rewritten).
    providers = _sql(
        ray_cluster.dsn,
        "SELECT array_agg(provider ORDER BY period_start) FROM backfill_chunks "
        "WHERE backfill_id = $1 AND status = 'done'",
        summary["backfill_id"],
    )  # fmt: skip
    assert sorted(providers) == ["alphavantage"] * done + ["yahoo"] * (6 - done)


async def _yahoo_bars(sim: SimServer, symbol: str, start: datetime, end: datetime) -> list:
    client = YahooClient(sim.urls["yahoo"])
    try:
        instrument = Instrument(symbol, symbol, "NASDAQ", "USD", "America/New_York", {})
        return list((await client.fetch_bars(instrument, start, end)).bars)
    finally:
        await client.aclose()


def test_worker_killed_between_claim_and_commit_loses_no_article(ray_cluster, tmp_path) -> None:
    """The dedupe claims are taken, then the worker dies before its commit; Ray's retry
    finds the claims but not the rows, and stores every article (exactly once)."""
    args = ["--tickers", "NVDA", "--start", "2024-03-04", "--end", "2024-03-08",
            "--capabilities", "news"]  # fmt: skip
    window = (datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 9, tzinfo=UTC))
    stored_sql = (
        "SELECT count(*) FROM article_instruments ai JOIN articles a USING (fingerprint) "
        "WHERE ai.instrument_id = 'NVDA' AND a.published_at >= $1 AND a.published_at < $2"
    )
    marker = tmp_path / "news.claimed.fired"
    env = {**ray_cluster.job_env(), "STOCKRAY_FAULTS": f"news.claimed=exit@{marker}"}
    done = subprocess.run(
        [sys.executable, "-m", "jobs.backfill", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert marker.exists(), "the fault point was never reached"
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    first = _summary(done)["counts"]
    stored = _sql(ray_cluster.dsn, stored_sql, *window)
    assert first["fetched"] > 0 and stored > 0
    # the retry found every claim taken and no row stored: it wrote them all
    assert first["unique"] == first["fetched"] - first["repeated"] and first["known"] == 0

    again = _summary(_run(ray_cluster, "jobs.backfill", *args, "--refetch"))["counts"]
    assert again["fetched"] == first["fetched"]
    assert again["unique"] == 0 and again["saved"] == 0  # all there already
    assert again["known"] == first["unique"] == stored  # each stored exactly once

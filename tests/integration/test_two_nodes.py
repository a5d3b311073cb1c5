"""Two Ray nodes on one machine: jobs spread over both, and losing one costs no rows.

The module runs its own head (one CPU, own ports, temp dir and database) so that adding
and killing a node never disturbs the session's cluster. The second node joins it as on a
real cluster, `ray start --address <gcs> --num-cpus 1`, with the same settings in its
environment; it is stopped by its own processes, never by `ray stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from cluster import ray_head
from cluster.postgres import prepare_database
from cluster.ray_head import free_port
from configs.settings import load_settings
from core.providers import YahooClient
from core.storage.db import connect
from core.wait import eventually, poll
from sim.server import SimServer
from tests.integration.conftest import RayCluster, _config_dir
from tests.integration.test_jobs import _sql

pytestmark = pytest.mark.timeout(900)

TICKERS = ["AAPL", "MSFT", "NVDA", "005930.KS", "000660.KS"]  # groups us + kr
# 25 yearly chunks: enough for both nodes to get several (SPREAD), and each run short.
BACKFILL = ["--tickers", "us,kr", "--start", "2020-01-01", "--end", "2024-12-31"]
BARS_RANGE = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
BARS_DIGEST = """
    SELECT count(*) || ':' || md5(string_agg(
        concat_ws('|', instrument_id, ts, open, high, low, close, volume, partial),
        ',' ORDER BY instrument_id, ts))
    FROM bars WHERE interval = '1d' AND instrument_id = ANY($1) AND ts >= $2 AND ts < $3
"""
ANALYSES_DIGEST = """
    SELECT count(*) || ':' || md5(string_agg(
        concat_ws('|', fingerprint, instrument_id, method, model, label,
                  round(sentiment::numeric, 6), round(relevance::numeric, 6)),
        ',' ORDER BY instrument_id, fingerprint))
    FROM analyses WHERE instrument_id = ANY($1)
"""


@dataclass(frozen=True)
class TwoNodeCluster(RayCluster):
    """This module's head, plus what a joining node needs: the head's environment."""

    node_env: dict[str, str]


class WorkerNode:
    """A second Ray node on this machine: `ray start --address … --block`, own temp dir
    and ports, so its processes are told apart from the head's."""

    def __init__(self, cluster: TwoNodeCluster) -> None:
        self.temp_dir = Path(tempfile.mkdtemp(prefix="srn", dir="/tmp"))  # short: sockets
        ports = {
            "--node-manager-port": free_port(),
            "--object-manager-port": free_port(),
            "--metrics-export-port": free_port(),
            "--dashboard-agent-listen-port": free_port(),
            "--dashboard-agent-grpc-port": free_port(),
            "--runtime-env-agent-port": free_port(),
        }
        args = [
            sys.executable, "-m", "ray.scripts.scripts", "start", "--block",
            "--address", cluster.gcs_address, "--num-cpus", "1",
            "--node-ip-address", ray_head.NODE_IP, "--temp-dir", str(self.temp_dir),
            "--object-store-memory", str(200 * 1024**2), "--disable-usage-stats",
            *[str(x) for pair in ports.items() for x in pair],
        ]  # fmt: skip
        self._known = set(alive_nodes(cluster))
        self._log = (self.temp_dir / "ray-start.log").open("w")
        self.proc = subprocess.Popen(
            args, env=ray_head.ray_env(cluster.node_env), stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            self.node_id = self._wait_joined(cluster, timeout_s=90)
        except BaseException:
            self._terminate()
            raise

    def _wait_joined(self, cluster: TwoNodeCluster, timeout_s: float) -> str:
        def joined() -> set[str]:
            assert self.proc.poll() is None, (self.temp_dir / "ray-start.log").read_text()
            return set(alive_nodes(cluster)) - self._known

        what = "the second node joins"
        return eventually(joined, timeout_s=timeout_s, interval_s=0.5, what=what).pop()

    def processes(self) -> list[psutil.Process]:
        """`ray start` and everything it spawned (raylet, agents, workers), plus any
        process naming this node's temp dir (in case one was re-parented)."""
        found: dict[int, psutil.Process] = {}
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.proc.pid)
            found = {p.pid: p for p in [root, *root.children(recursive=True)]}
        for proc in psutil.process_iter(["cmdline"]):
            if any(str(self.temp_dir) in a for a in proc.info["cmdline"] or []):
                found[proc.pid] = proc
                with contextlib.suppress(psutil.NoSuchProcess):
                    found.update({c.pid: c for c in proc.children(recursive=True)})
        return list(found.values())

    def kill(self) -> int:
        """The node vanishes: SIGKILL every one of its processes at once."""
        procs = self.processes()
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(procs, timeout=10)
        self.proc.wait(10)
        return len(procs)

    def stop(self, cluster: RayCluster) -> None:
        """Stop the node, wait until the cluster counts it dead, and remove its temp dir."""
        self._terminate()
        eventually(
            lambda: self.node_id not in alive_nodes(cluster),
            timeout_s=90,
            interval_s=1,
            what="the cluster no longer lists the stopped node",
        )

    def _terminate(self) -> None:
        procs = self.processes()
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=5)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        self._log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def alive_nodes(cluster: RayCluster) -> list[str]:
    """Ids of the cluster's live nodes, from the state API (no driver in this process)."""
    resp = httpx.get(
        f"{cluster.dashboard_url}/api/v0/nodes",
        params={"limit": 100, "filter_keys": "state", "filter_predicates": "=",
                "filter_values": "ALIVE"},
        headers=ray_head.auth_headers(), timeout=30,
    )  # fmt: skip
    resp.raise_for_status()
    return [n["node_id"] for n in resp.json()["data"]["result"]["result"]]


def task_states(cluster: RayCluster, node_id: str, name: str) -> Counter:
    """How many attempts of task `name` on node `node_id` are in each state (state API)."""
    filters = [("name", name), ("node_id", node_id)]
    params: list[tuple[str, str | int]] = [("limit", 10000)]
    for key, value in filters:
        params += [("filter_keys", key), ("filter_predicates", "="), ("filter_values", value)]
    resp = httpx.get(
        f"{cluster.dashboard_url}/api/v0/tasks", params=params,
        headers=ray_head.auth_headers(), timeout=30,
    )  # fmt: skip
    resp.raise_for_status()
    return Counter(t["state"] for t in resp.json()["data"]["result"]["result"])


@pytest.fixture(scope="module")
def cluster(pg_server, sim: SimServer) -> Iterator[TwoNodeCluster]:
    """A one-CPU head with its own database, wired to the session's sim."""
    root = Path(tempfile.mkdtemp(prefix="srh", dir="/tmp"))
    config_dir = _config_dir(root)
    _pace_providers(config_dir / "providers.yaml")
    settings = load_settings(**ray_head.isolated(root), ray_num_cpus=1)
    database = f"t2n_{uuid.uuid4().hex[:12]}"
    _admin(pg_server, f'CREATE DATABASE "{database}"')
    dsn = pg_server.get_uri(database=database)
    env = {
        "STOCKRAY_DATABASE_URL": dsn,
        "STOCKRAY_HOME": str(settings.home),
        "STOCKRAY_CONFIG_DIR": str(config_dir),
        "STOCKRAY_LLM_URLS__SIM": sim.urls["llm"] + "/v1",
        "STOCKRAY_LLM_KEYS__SIM": "test-key",
    }
    for name, url in sim.urls.items():
        env[f"STOCKRAY_PROVIDER_URLS__{name.upper()}"] = url
        env[f"STOCKRAY_PROVIDER_KEYS__{name.upper()}"] = "test-key"
    prepare_database(dsn, load_settings(config_dir=config_dir))
    state = ray_head.start_head(settings, env, root / "ray-start.log")
    try:
        yield TwoNodeCluster(
            state.gcs_address, settings.dashboard_url, settings.ray_metrics_port, config_dir,
            dsn, env,
        )  # fmt: skip
    finally:
        ray_head.stop_head(state)
        shutil.rmtree(root, ignore_errors=True)
        _admin(pg_server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _pace_providers(path: Path) -> None:
    """8 calls/s per provider (so a job keeps 8 tasks in flight, not 32 worker processes on
    2 cores, and a backfill lasts long enough to lose a node in it), and timeouts that a
    loaded test machine does not trip: this module is about nodes, not provider timing."""
    config = yaml.safe_load(path.read_text())
    for provider in config["providers"].values():
        provider["timeout_s"] = 10
        provider["limits"] = [{"requests": 8, "per_s": 1}]
        provider["retry"] = {**provider.get("retry", {}), "max_attempts": 3, "deadline_s": 60}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _admin(pg_server, statement: str) -> None:
    async def run() -> None:
        admin = await connect(pg_server.get_uri())
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    asyncio.run(run())


@pytest.fixture(autouse=True)
def _no_faults(sim: SimServer) -> Iterator[None]:
    sim.clear_faults()
    yield
    sim.clear_faults()


def _job(cluster: RayCluster, module: str, *args: str) -> dict:
    """Run a job driver as a user does; its last line is the JSON summary."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args], env=cluster.job_env(), capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def _digests(cluster: RayCluster) -> tuple[str, str]:
    bars = _sql(cluster.dsn, BARS_DIGEST, TICKERS, *BARS_RANGE)
    return bars, _sql(cluster.dsn, ANALYSES_DIGEST, TICKERS)


def _expected_rows(cluster: RayCluster, sim: SimServer, start: datetime, end: datetime) -> int:
    """Daily bars the sim serves for TICKERS in [start, end), asked for directly."""
    watchlist = load_settings(config_dir=cluster.config_dir).watchlist

    async def count() -> int:
        client = YahooClient(sim.urls["yahoo"])
        try:
            total = 0
            for ticker in TICKERS:
                instrument = watchlist.get(ticker).to_instrument()
                total += len((await client.fetch_bars(instrument, start, end)).bars)
            return total
        finally:
            await client.aclose()

    return asyncio.run(count())


def _forget(cluster: RayCluster) -> None:
    """Drop the backfill's and the analysis' results, so a re-run does all the work again."""

    async def go() -> None:
        conn = await connect(cluster.dsn)
        try:
            await conn.execute("DELETE FROM bars WHERE instrument_id = ANY($1)", TICKERS)
            await conn.execute("DELETE FROM backfill_chunks")
            await conn.execute("DELETE FROM analyses")
            await conn.execute("DELETE FROM reports")
        finally:
            await conn.close()

    asyncio.run(go())


def test_jobs_spread_over_two_nodes_with_the_same_results(cluster, sim) -> None:
    (head,) = alive_nodes(cluster)
    collected = _job(cluster, "jobs.collect", "--tickers", "us,kr", "--capabilities", "news",
                     "--no-analyze")  # fmt: skip
    assert collected["counts"]["saved"] > 0
    started = time.monotonic()
    one_backfill = _job(cluster, "jobs.backfill", *BACKFILL)
    one_s = time.monotonic() - started
    one_analyze = _job(cluster, "jobs.analyze", "--tickers", "us,kr", "--window", "30d")
    assert one_backfill["chunks_by_node"] == {head: one_backfill["chunks_total"]}
    assert one_analyze["instruments_by_node"] == {head: len(TICKERS)}
    assert one_analyze["counts"]["analysed"] > 0 and one_analyze["failed"] == {}
    single = _digests(cluster)
    assert single[0].startswith(f"{_expected_rows(cluster, sim, *BARS_RANGE)}:")

    _forget(cluster)
    node = WorkerNode(cluster)
    try:
        assert sorted(alive_nodes(cluster)) == sorted([head, node.node_id])
        started = time.monotonic()
        two_backfill = _job(cluster, "jobs.backfill", *BACKFILL)
        two_s = time.monotonic() - started
        two_analyze = _job(cluster, "jobs.analyze", "--tickers", "us,kr", "--window", "30d")
    finally:
        node.stop(cluster)
    split = two_backfill["chunks_by_node"]
    print(f"backfill: one node {one_s:.1f}s; two nodes {two_s:.1f}s, chunks per node {split}; "
          f"analysis per node {two_analyze['instruments_by_node']}")  # fmt: skip
    assert set(split) == {head, node.node_id} and all(split.values())
    assert sum(split.values()) == two_backfill["chunks_total"] == one_backfill["chunks_total"]
    assert two_backfill["chunks_skipped"] == 0 and two_backfill["chunks_failed"] == {}
    assert set(two_analyze["instruments_by_node"]) == {head, node.node_id}
    assert two_analyze["counts"]["analysed"] == one_analyze["counts"]["analysed"]
    assert two_analyze["counts"]["reports"] == one_analyze["counts"]["reports"]
    assert _digests(cluster) == single
    assert node.node_id not in alive_nodes(cluster)


def test_a_node_lost_mid_backfill_costs_no_rows(cluster, sim) -> None:
    # ~125 chunks at the providers' 8 calls/s: 15 s or more to lose a node in (the node
    # is lost a few chunks in: once it has finished one and runs two more).
    args = ["--tickers", "us,kr", "--start", "2009-01-01", "--end", "2012-12-31",
            "--chunk-days", "60"]  # fmt: skip
    start, end = datetime(2009, 1, 1, tzinfo=UTC), datetime(2013, 1, 1, tzinfo=UTC)
    (head,) = alive_nodes(cluster)
    node = WorkerNode(cluster)
    try:
        driver = subprocess.Popen(
            [sys.executable, "-m", "jobs.backfill", *args], env=cluster.job_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        done_sql = "SELECT count(*) FROM backfill_chunks WHERE status = 'done'"
        before = _sql(cluster.dsn, done_sql)

        def chunk_states() -> dict:
            assert driver.poll() is None, driver.communicate()
            return task_states(cluster, node.node_id, "run_chunk")

        def mid_job(states: dict) -> bool:
            return states["FINISHED"] >= 1 and states["RUNNING"] >= 2

        # Mid-job: the node has finished chunks and is running more when it dies.
        states = poll(chunk_states, until=mid_job, timeout_s=180, interval_s=0.2)
        assert mid_job(states), states
        killed = node.kill()
        killed_at = time.monotonic()
        at_kill = _sql(cluster.dsn, done_sql) - before
        out, err = driver.communicate(timeout=600)
        after_kill_s = time.monotonic() - killed_at
    finally:
        node.stop(cluster)
    assert driver.returncode == 0, out[-3000:] + err[-3000:]
    summary = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    lost = task_states(cluster, node.node_id, "run_chunk")["FAILED"]
    print(
        f"killed {killed} processes of the second node after {at_kill} chunks; {lost} "
        f"attempts died with it and were retried; done {after_kill_s:.1f}s later; "
        f"chunks per node {summary['chunks_by_node']}"
    )
    assert lost >= 1  # the node died with chunks in flight, and Ray ran them again
    assert summary["chunks_failed"] == {}
    assert summary["chunks_done"] == summary["chunks_total"] > at_kill
    assert summary["chunks_by_node"].get(node.node_id, 0) > 0  # it did work before it died
    assert summary["chunks_by_node"][head] > 0
    assert node.node_id not in alive_nodes(cluster)
    stored = _sql(
        cluster.dsn,
        "SELECT count(*) FROM bars WHERE instrument_id = ANY($1) AND interval = '1d' "
        "AND ts >= $2 AND ts < $3",
        TICKERS, start, end,
    )  # fmt: skip
    assert stored == _expected_rows(cluster, sim, start, end)

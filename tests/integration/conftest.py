"""Integration fixtures: one Postgres, one simulator and one Ray cluster per test session."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from cluster import ray_head
from configs.settings import PACKAGE_CONFIG_DIR, load_settings
from core.storage.db import connect, create_pool
from core.storage.migrations import migrate
from sim.server import SimServer
from tests.llama_server import llama_model, llama_server, own_llama_server  # noqa: F401

TEST_CONFIGS = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class RayCluster:
    """The session's Ray head."""

    gcs_address: str
    dashboard_url: str
    metrics_port: int
    config_dir: Path
    dsn: str

    def job_env(self) -> dict[str, str]:
        """Environment for a job driver run by hand against this cluster."""
        return {
            **os.environ,
            "RAY_ADDRESS": self.gcs_address,
            "STOCKRAY_CONFIG_DIR": str(self.config_dir),
            "STOCKRAY_DATABASE_URL": self.dsn,
        }


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server (pgserver) in a temp dir, deleted at the end."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    # Not pytest's tmp_path: pytest prunes old base temp dirs, which parallel runs share.
    root = Path(tempfile.mkdtemp(prefix="srpg"))
    server = pgserver.get_server(root / "data", cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest.fixture
async def fresh_dsn(pg_server) -> AsyncIterator[str]:
    """DSN of a new empty database on the session's server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await connect(pg_server.get_uri())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield pg_server.get_uri(database=name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def migrated_pool(fresh_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A connection pool on a new database with every migration applied."""
    conn = await connect(fresh_dsn)
    await migrate(conn)
    await conn.close()
    pool = await create_pool(fresh_dsn, max_size=20)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def sim() -> Iterator[SimServer]:
    """The provider simulator for the whole session (faults reset by `providers`)."""
    with SimServer(seed=7, watchlist_path=PACKAGE_CONFIG_DIR / "watchlist.yaml") as server:
        yield server


def _config_dir(root: Path) -> Path:
    target = root / "configs"
    target.mkdir()
    for path in PACKAGE_CONFIG_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    for path in TEST_CONFIGS.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


def _prepare_database(dsn: str, settings) -> None:
    from cluster.postgres import prepare_database

    prepare_database(dsn, settings)  # the stack's own step: migrations + watchlist sync


@pytest.fixture(scope="session")
def ray_cluster(pg_server, sim: SimServer) -> Iterator[RayCluster]:
    """A local Ray head for this session (own ports and temp dir), wired to Postgres and the sim."""
    import ray

    temp_dir = Path(tempfile.mkdtemp(prefix="srt", dir="/tmp"))  # short: unix socket paths
    config_dir = _config_dir(temp_dir)
    settings = load_settings(**ray_head.isolated(temp_dir))
    env = {
        "STOCKRAY_DATABASE_URL": pg_server.get_uri(),
        "STOCKRAY_HOME": str(settings.home),
        "STOCKRAY_CONFIG_DIR": str(config_dir),
    }
    for name, url in sim.urls.items():
        env[f"STOCKRAY_PROVIDER_URLS__{name.upper()}"] = url
        env[f"STOCKRAY_PROVIDER_KEYS__{name.upper()}"] = "test-key"
    env["STOCKRAY_LLM_URLS__SIM"] = sim.urls["llm"] + "/v1"  # tests/integration/configs/llm.yaml
    env["STOCKRAY_LLM_KEYS__SIM"] = "test-key"
    # A Serve replica behind HAProxy stays reachable this long when it stops, so the proxy
    # can drop it first (Ray's default: 30 s, which every scale-down and app deletion in
    # the tests waited out). One node reloads HAProxy in well under a second, and the
    # scale-down tests (no failed request, sockets closed with 1012) then prove it on a
    # shorter window, which is the harder case.
    env["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] = "3"
    _prepare_database(pg_server.get_uri(), load_settings(config_dir=config_dir))
    state = ray_head.start_head(settings, env, temp_dir / "ray-start.log")
    try:
        ray.init(address=state.gcs_address, namespace="stockray", log_to_driver=False)
        yield RayCluster(
            state.gcs_address,
            settings.dashboard_url,
            settings.ray_metrics_port,
            config_dir,
            pg_server.get_uri(),
        )
    finally:
        ray.shutdown()
        ray_head.stop_head(state)
        shutil.rmtree(temp_dir, ignore_errors=True)

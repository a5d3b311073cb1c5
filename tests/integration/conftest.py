"""Integration fixtures: one embedded Postgres and one Ray cluster per test session."""

from __future__ import annotations

import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cluster import ray_head
from configs.settings import load_settings
from core.storage.db import connect
from tests.support import free_port


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


@pytest.fixture(scope="session")
def ray_cluster(pg_server) -> Iterator[str]:
    """A local Ray head for this session (own ports and temp dir); yields its GCS address."""
    import ray

    temp_dir = Path(tempfile.mkdtemp(prefix="srt", dir="/tmp"))  # short: unix socket paths
    settings = load_settings(
        ray_port=free_port(),
        dashboard_port=free_port(),
        ray_client_port=free_port(),
        ray_metrics_port=free_port(),
        ray_agent_port=free_port(),
        ray_temp_dir=temp_dir,
        home=temp_dir / "home",
    )
    env = {"STOCKRAY_DATABASE_URL": pg_server.get_uri(), "STOCKRAY_HOME": str(settings.home)}
    state = ray_head.start_head(settings, env, temp_dir / "ray-start.log")
    try:
        ray.init(address=state.gcs_address, namespace="stockray", log_to_driver=False)
        yield state.gcs_address
    finally:
        ray.shutdown()
        ray_head.stop_head(state)

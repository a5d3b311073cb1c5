"""The session's Ray cluster: workers inherit the stack env and reach Postgres with it."""

from __future__ import annotations

import asyncio

import ray

from configs.settings import load_settings
from core.storage.db import connect


@ray.remote(num_cpus=0)
def _probe() -> tuple[str, int]:
    settings = load_settings()
    assert settings.database_url is not None, "worker did not inherit STOCKRAY_DATABASE_URL"

    async def go() -> int:
        conn = await connect(settings.database_url.get_secret_value())
        try:
            return await conn.fetchval("SELECT 41 + 1")
        finally:
            await conn.close()

    return ray.get_runtime_context().namespace, asyncio.run(go())


def test_worker_reads_settings_and_reaches_postgres(ray_cluster: str) -> None:
    namespace, answer = ray.get(_probe.remote(), timeout=120)
    assert namespace == "stockray"
    assert answer == 42

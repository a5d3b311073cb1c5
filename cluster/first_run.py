"""What `up` does once on a new database: an admin API key and a first collection.

Both are decided by the database, not by `stack.json`: a database with any API key gets
no new key; one with bars or a recorded collect run gets no first collection. The first
collection's submission id is fixed, so a second `up` on the same head, before the job has
recorded its run, finds it and starts nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from cluster import ray_head
from configs.settings import Settings
from core.jobs import CollectRequest
from core.models import Capability
from core.storage import api_keys, first_run
from core.storage.db import connect

FIRST_COLLECTION_ID = "stockray-first-collection"
FIRST_KEY_NAME = "admin (first up)"
FIRST_CAPABILITIES = (Capability.PRICES, Capability.NEWS)


@dataclass
class FirstRun:
    """What this `up` did for a new database (all None: nothing)."""

    admin_key: str | None = None
    collection_job: str | None = None
    instruments: int = 0


async def _ask(dsn: str, create_key: bool) -> tuple[str | None, bool]:
    conn = await connect(dsn)
    try:
        key = None
        if create_key and not await first_run.has_api_keys(conn):
            _, key = await api_keys.create_key(conn, FIRST_KEY_NAME, "admin", None)
        return key, await first_run.nothing_collected(conn)
    finally:
        await conn.close()


def collection_entrypoint(trace_id: str) -> str:
    """The first collection's command: prices and news of the whole watchlist."""
    request = CollectRequest(capabilities=list(FIRST_CAPABILITIES), trace_id=trace_id)
    return request.to_entrypoint()


def submit_first_collection(settings: Settings, env: dict[str, str] | None) -> str | None:
    """Submit the first collection under its fixed id; None if this head already has it."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(settings.dashboard_url, headers=ray_head.auth_headers())
    trace_id = uuid.uuid4().hex[:16]
    try:
        return client.submit_job(
            entrypoint=collection_entrypoint(trace_id),
            submission_id=FIRST_COLLECTION_ID,
            metadata={"trigger": "up", "trace_id": trace_id},
            # An external cluster's nodes do not have the stack's settings (see `up`).
            runtime_env={"env_vars": env} if env else None,
        )
    except RuntimeError as exc:
        if "already exists" in str(exc):
            return None
        raise


def start_first_collection(settings: Settings, dsn: str, env: dict[str, str] | None) -> FirstRun:
    """Submit the first collection where the database has nothing collected yet. Called as
    soon as Ray answers, so it runs while the API's replicas start."""
    done = FirstRun()
    if settings.first_collection != "on" or not asyncio.run(_ask(dsn, create_key=False))[1]:
        return done
    done.collection_job = submit_first_collection(settings, env)
    done.instruments = len(settings.watchlist.instruments) if done.collection_job else 0
    return done


def create_first_key(dsn: str, done: FirstRun) -> FirstRun:
    """The first admin key where the database has none: made once the API answers, so the
    key `up` prints is one a user can use at once (a failed `up` prints nothing and makes none).
    """
    done.admin_key = asyncio.run(_ask(dsn, create_key=True))[0]
    return done

"""The probes of `stockray doctor`: each measures one thing (HTTP, SQL, psutil, the logs, Ray)
and returns a `core.doctor.Check`; `core.doctor` decides what the numbers mean.

Probes run in threads (`cluster/doctor.py`), so each may block; the ones that need Postgres
open their own connection (`run_connected`), and a probe's exception becomes its `fail` line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx
import psutil

from cluster import ray_head, scheduler, sim_process
from cluster.state import StackState
from configs.settings import Settings
from core import doctor, freshness
from core.doctor import Check
from core.doctor_logs import count_errors
from core.storage import backups, costs, health, wal, watermarks
from core.storage import doctor as pg
from core.storage.backups import Backup
from core.storage.db import run_connected

LOG_SUFFIXES = (".log", ".err", ".out")


class Missing(Exception):
    """Something a probe needs is not configured or recorded; the message says what to do."""


T = TypeVar("T")


@dataclass
class Probe:
    """What every probe reads: the settings, what `up` recorded, the database, the time."""

    settings: Settings
    state: StackState
    dsn: str | None
    now: datetime

    @classmethod
    def load(cls, settings: Settings) -> Probe:
        """The settings' stack (STOCKRAY_DATABASE_URL, else the embedded Postgres recorded)."""
        state = StackState.load(settings.home)
        dsn = (
            settings.database_url.get_secret_value()
            if settings.database_url
            else state.postgres.uri
        )
        return cls(settings, state, dsn, datetime.now(UTC))

    @property
    def dashboard_url(self) -> str:
        """The Ray dashboard `up` recorded, else the settings'."""
        return self.state.ray.dashboard_url or self.settings.dashboard_url

    def sql(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`work(conn)` on a fresh connection to the stack's database."""
        if not self.dsn:
            raise Missing("no database: set STOCKRAY_DATABASE_URL or run `stockray up`")
        return run_connected(self.dsn, work)


# -- components ----------------------------------------------------------------------------


def postgres(p: Probe) -> Check:
    """The database answers a query."""
    p.sql(health.ping)
    where = "external (STOCKRAY_DATABASE_URL)" if p.settings.database_url else "embedded"
    return Check(name="postgres", status="ok", detail=f"{where}, answers")


def ray(p: Probe) -> Check:
    """The Ray head's dashboard (and Jobs API) answers."""
    alive = ray_head.dashboard_alive(p.dashboard_url)
    detail = f"dashboard {p.dashboard_url}" + ("" if alive else " does not answer: `stockray up`")
    return Check(name="ray", status="ok" if alive else "fail", detail=detail)


def serve(p: Probe) -> Check:
    """The API's `/readyz` answers 200."""
    url = f"{p.settings.api_url}/readyz"
    try:
        answer = httpx.get(url, timeout=min(5.0, p.settings.doctor_timeout_s))
    except httpx.HTTPError as exc:
        return Check(name="serve", status="fail", detail=f"{url}: {type(exc).__name__}")
    if answer.status_code != 200:
        return Check(name="serve", status="fail", detail=f"{url} answered {answer.status_code}")
    return Check(name="serve", status="ok", detail=f"{url} ready", value=answer.json())


def scheduler_beat(p: Probe) -> Check:
    """The scheduler actor's heartbeat row is fresh."""
    if not p.dsn:
        raise Missing("no database to read the heartbeat from")
    alive, _ = scheduler.state(p.dsn)
    detail = "heartbeat fresh" if alive else "no heartbeat in 30 s: `stockray up` restarts it"
    return Check(name="scheduler", status="ok" if alive else "fail", detail=detail)


def redis(p: Probe) -> Check:
    """STOCKRAY_REDIS_URL answers PING (skipped when unset: actors serve instead)."""
    if p.settings.redis_url is None:
        return Check(name="redis", status="skip", detail="STOCKRAY_REDIS_URL unset (actors serve)")
    import redis as redis_client

    client = redis_client.Redis.from_url(
        p.settings.redis_url.get_secret_value(), socket_timeout=3, socket_connect_timeout=3
    )
    try:
        client.ping()
    except redis_client.RedisError as exc:
        return Check(name="redis", status="fail", detail=f"no answer: {type(exc).__name__}")
    finally:
        client.close()
    return Check(name="redis", status="ok", detail="answers PING")


def sim(p: Probe) -> Check:
    """The provider simulator, when the stack runs one."""
    if not (sim_process.wanted(p.settings) or p.state.sim.started_by_up):
        return Check(name="sim", status="skip", detail="not used (provider keys are set)")
    alive = sim_process.alive(p.state.sim)
    detail = f"admin {p.state.sim.admin_url}" if alive else "down: `stockray up` starts it"
    return Check(name="sim", status="ok" if alive else "fail", detail=detail)


# -- the machine ---------------------------------------------------------------------------


def disk(p: Probe) -> Check:
    """Used share of the filesystem holding the data dir."""
    where = p.settings.home
    while not where.exists():
        where = where.parent
    used = psutil.disk_usage(str(where)).percent
    return doctor.usage("disk", used, p.settings.doctor_disk_used_pct, f"{where}'s disk")


def memory(p: Probe) -> Check:
    """Used share of the machine's memory."""
    used = psutil.virtual_memory().percent
    return doctor.usage("memory", used, p.settings.doctor_memory_used_pct, "memory")


# -- the database ---------------------------------------------------------------------------


def connections(p: Probe) -> Check:
    """Backends against max_connections."""
    found = p.sql(pg.connections)
    return doctor.connections(found.used, found.limit, p.settings.doctor_connections_pct)


def backup(p: Probe) -> Check:
    """The newest backup's age and whether it was verified."""

    async def newest(conn: asyncpg.Connection) -> tuple[Backup | None, Backup | None]:
        return await backups.newest(conn, "logical"), await backups.newest(conn, "base")

    logical, base = p.sql(newest)
    return doctor.backup(logical, base, p.now, p.settings.doctor_backup_age_h)


def wal_archiving(p: Probe) -> Check:
    """archive_mode, pg_stat_archiver and the backlog; the embedded Postgres archives (PITR)."""

    async def facts(conn: asyncpg.Connection) -> tuple[str, wal.Archiver, int | None]:
        mode = (await wal.archiving_settings(conn)).get("archive_mode", "off")
        return mode, await wal.archiver(conn), await pg.archive_backlog(conn)

    mode, stats, ready = p.sql(facts)
    return doctor.archiving(mode, stats, ready, p.settings.database_url is None, p.now)


def freshness_check(p: Probe) -> Check:
    """Each scheduled instrument's capability against its schedule."""
    now = p.now.timestamp()
    intervals = freshness.collection_intervals(p.settings, now)
    last = freshness.last_success(p.sql(watermarks.last_advances))
    return doctor.freshness(freshness.stale(intervals, last, now), len(intervals))


def llm_spend(p: Probe) -> Check:
    """Today's LLM spend against the daily budget."""
    row = p.sql(costs.todays_budget)
    if row is None:  # no call yet today: the budget is pricing.yaml's
        return doctor.llm_spend(p.settings.pricing.budget.daily_usd, 0.0)
    return doctor.llm_spend(row.limit_micro / 1e6, (row.spent_micro + row.reserved_micro) / 1e6)


# -- logs, providers, TLS --------------------------------------------------------------------


def log_files(p: Probe) -> Iterator[Path]:
    """The stack's own logs (`<home>/logs`) and the Ray session's (workers, job drivers,
    Serve replicas) on this machine."""
    roots = [p.settings.home / "logs"]
    if p.state.ray.session_dir:
        roots.append(Path(p.state.ray.session_dir) / "logs")
    elif p.settings.ray_temp_dir:
        roots.append(p.settings.ray_temp_dir / "session_latest" / "logs")
    for root in roots:
        if root.is_dir():
            yield from (f for f in root.rglob("*") if f.suffix in LOG_SUFFIXES)


def log_errors(p: Probe) -> Check:
    """ERROR lines of the last hour, by stage."""
    by_stage, files = count_errors(log_files(p), p.now - timedelta(hours=1))
    return doctor.log_errors(by_stage, files)


def providers(p: Probe) -> Check:
    """Circuits and quotas, from the provider router actor (joins the Ray cluster briefly)."""
    os.environ["RAY_AUTH_MODE"] = "token"  # read by Ray at import: set before it
    import ray as ray_api

    from actors import NAMESPACE
    from actors.providers import ROUTER_NAME

    address = p.settings.ray_address or p.state.ray.gcs_address
    if not ray_api.is_initialized():
        if not address:
            return Check(name="providers", status="fail", detail="no Ray cluster recorded")
        ray_api.init(
            address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.ERROR
        )
    try:
        router = ray_api.get_actor(ROUTER_NAME, namespace=NAMESPACE)
    except ValueError:
        detail = "the provider router is not running (it starts with the first collection)"
        return Check(name="providers", status="warn", detail=detail)
    found = ray_api.get(router.health.remote(), timeout=p.settings.doctor_timeout_s)
    return doctor.providers(found)


def tls_cert(p: Probe) -> Check:
    """Days left on STOCKRAY_TLS_CERT_FILE's certificate (skipped when unset)."""
    path = p.settings.tls_cert_file
    if path is None:
        return Check(name="tls_cert", status="skip", detail="STOCKRAY_TLS_CERT_FILE unset")
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    return doctor.certificate(
        str(path), cert.not_valid_after_utc, p.now, p.settings.doctor_cert_days
    )

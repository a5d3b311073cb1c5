"""The collect job's cycle plan: budgets read from the provider actors, stalest instruments
first, and how many requests to keep in flight per provider."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from configs.settings import Settings
from core.collection import watermark_key
from core.models import Capability, Instrument
from core.planning import Plan, ProviderBudget, plan_cycle
from core.providers import CLIENTS
from core.resilience.limiter import Window, to_windows
from core.routing import can_serve
from core.storage import watermarks

# Calls in flight per provider: its shortest window's rate times this many seconds (a call
# plus its Ray hops and the write of its rows), so a waiter is always queued at its limiter.
IN_FLIGHT_SECONDS = 2.0
MIN_IN_FLIGHT, MAX_IN_FLIGHT = 2, 32
_NEVER = datetime.min.replace(tzinfo=UTC)


def serves(settings: Settings, capability: Capability, instrument: Instrument) -> bool:
    """Disclosure providers key on their own codes: skip instruments without one."""
    if capability is not Capability.DISCLOSURES:
        return True
    names = settings.providers.capabilities.get(capability, [])
    return any(name in instrument.symbols for name in names)


def windows_of(settings: Settings, provider: str) -> tuple[Window, ...]:
    """The provider's configured rate windows."""
    return tuple(to_windows(settings.providers.providers[provider].limits, margin_s=0.0))


def budgets_from(settings: Settings, health: dict[str, dict[str, Any]]) -> dict:
    """Each enabled provider's windows and what they have left (the router's health)."""
    out: dict[str, ProviderBudget] = {}
    for name, report in health.items():
        if not report.get("enabled") or name not in settings.providers.providers:
            continue
        left = {k: v for k, v in (report.get("budget") or {}).items() if k != "paused_s"}
        exhausted = bool((report.get("quota") or {}).get("exhausted"))
        out[name] = ProviderBudget(name, windows_of(settings, name), left, exhausted)
    return out


def routes_for(
    settings: Settings, budgets: dict, capabilities: Sequence[Capability], interval: str
) -> dict[Capability, list[str]]:
    """Per capability, the enabled providers able to serve it, in failover order."""
    return {
        c: [
            p
            for p in settings.providers.capabilities.get(c, [])
            if p in budgets and can_serve(p, c, interval if c is Capability.PRICES else None)
        ]
        for c in capabilities
    }


async def stalest_first(
    conn: asyncpg.Connection,
    settings: Settings,
    instruments: list[Instrument],
    capabilities: Sequence[Capability],
    interval: str,
) -> dict[Capability, list[Instrument]]:
    """Per capability, the instruments it serves, never collected first, then oldest."""
    ids = [i.id for i in instruments]
    work: dict[Capability, list[Instrument]] = {}
    for capability in capabilities:
        marks = await watermarks.latest_many(conn, ids, watermark_key(capability, interval))
        served = [i for i in instruments if serves(settings, capability, i)]
        work[capability] = sorted(served, key=lambda i: marks.get(i.id, _NEVER))
    return work


def batcher(provider: str, capability: Capability, items: list[Instrument]) -> list:
    """The provider client's own grouping (several symbols per request where it takes them)."""
    client = CLIENTS.get(provider)
    return client.batches(capability, items) if client else [[i] for i in items]


def calls(provider: str, capability: Capability) -> int:
    """HTTP requests one fetch of `capability` costs `provider` (its client's `calls`)."""
    client = CLIENTS.get(provider)
    return client.calls(capability) if client else 1


def make_plan(
    settings: Settings,
    work: dict[Capability, list[Instrument]],
    health: dict[str, dict[str, Any]],
    interval: str,
    cycle_s: float | None,
) -> Plan:
    """The cycle's plan from the providers' budgets now."""
    budgets = budgets_from(settings, health)
    return plan_cycle(work, routes_for(settings, budgets, list(work), interval), budgets,
                      cycle_s, batcher, calls)  # fmt: skip


def in_flight(settings: Settings, provider: str) -> int:
    """Calls to keep in flight for `provider` so its limiter, not this job, sets the pace."""
    windows = windows_of(settings, provider) if provider in settings.providers.providers else ()
    if not windows:
        return MAX_IN_FLIGHT
    shortest = min(windows, key=lambda w: w.per_s)
    wanted = math.ceil(shortest.requests / shortest.per_s * IN_FLIGHT_SECONDS) + 1
    return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, wanted))

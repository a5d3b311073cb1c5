"""How often each instrument's data is due, and which is stale: one computation for the
`/metrics` gauges (`stockray_collection_interval_seconds`) and `stockray doctor`.

"Stale" is the alert rule's: no advance for more than `STALE_FACTOR` expected gaps
(`StockrayCollectionStale` in `cluster/monitoring/alerts.yml`), i.e. more than one missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from core.scheduling import next_slot

STALE_FACTOR = 2.0
CRON_HORIZON_DAYS = 14

Pair = tuple[str, str]  # (instrument, capability)


def collection_intervals(settings: Any, now: float) -> dict[Pair, float]:
    """The longest expected gap (s) between collections of each (instrument, capability).

    The shortest schedule per pair; a cron's longest gap between slots over the next two
    weeks (weekends included). Empty when the settings hold no schedules or watchlist.
    """
    if settings.schedules is None or settings.watchlist is None:
        return {}
    shortest: dict[Pair, float] = {}
    for schedule in settings.schedules.schedules:
        if not schedule.enabled or schedule.job != "collect":
            continue
        gap = schedule.interval_s or cron_gap(schedule, now)
        tickers = schedule.tickers or settings.watchlist.groups.get(schedule.group, [])
        for ticker in tickers:
            for capability in schedule.capabilities:
                key = (ticker, capability.value)
                shortest[key] = min(shortest.get(key, gap), gap)
    return dict(sorted(shortest.items()))


def cron_gap(schedule: Any, now: float) -> float:
    """A cron schedule's longest gap (s) between consecutive slots in the next two weeks."""
    at = datetime.fromtimestamp(now, UTC)
    slots = [at]
    while (slots[-1] - at).days < CRON_HORIZON_DAYS and len(slots) < 5000:
        slots.append(next_slot(schedule, slots[-1]))
    return max((b - a).total_seconds() for a, b in pairwise(slots[1:]))  # [0] is now


def last_success(advances: Iterable[Any]) -> dict[Pair, float]:
    """When each (instrument, capability) last advanced, from `watermarks.last_advances`
    rows: prices are watermarked per bar interval (`prices:1d`, `prices:1h`,
    `core.collection.watermark_key`) but scheduled as `prices`, so the newest interval counts."""
    last: dict[Pair, float] = {}
    for f in advances:
        key = (f.instrument_id, f.capability.split(":", 1)[0])
        last[key] = max(last.get(key, f.at), f.at)
    return dict(sorted(last.items()))


@dataclass(frozen=True)
class Lag:
    """A pair that is behind its schedule: its age (None = never collected) and due gap."""

    instrument: str
    capability: str
    age_s: float | None
    interval_s: float


def stale(
    intervals: dict[Pair, float], last: dict[Pair, float], now: float, factor: float = STALE_FACTOR
) -> list[Lag]:
    """The scheduled pairs not advanced for more than `factor` gaps (or never), oldest first."""
    lags = []
    for (instrument, capability), gap in intervals.items():
        at = last.get((instrument, capability))
        age = None if at is None else max(0.0, now - at)
        if age is None or age > factor * gap:
            lags.append(Lag(instrument, capability, age, gap))
    return sorted(lags, key=lambda g: float("-inf") if g.age_s is None else -g.age_s / g.interval_s)

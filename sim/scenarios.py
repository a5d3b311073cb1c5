"""Named scenarios: edges of the real services that the sim shows only when switched on.

Per provider, a JSON object of flags (and a few settings), set at start (`scenarios=`,
`--scenarios`) or at run time (`PUT /_sim/scenarios/{provider}`; `DELETE` resets)::

    {"yahoo":        {"live_row": true, "empty_timestamps": true},
     "alphavantage": {"premium_full": true, "premium_adjusted": true, "demo_key": true,
                      "daily_quota": true, "daily_limit": 25, "burst": true, "empty": true,
                      "echo_key": true},
     "newsapi":      {"odd_published_at": true, "null_descriptions": true, "echo_key": true},
     "dart":         {"daily_quota": true, "daily_limit": 20000, "maintenance": true,
                      "echo_key": true},
     "llm":          {"echo_key": true}}

Setting a provider's scenarios replaces them and restarts its quota counters. Unlike faults,
scenarios change what the service says, not whether it answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sim.calendar import local_date
from sim.faults import FaultConfigError, RateLimit, RateLimiter

FLAGS: dict[str, tuple[str, ...]] = {
    "yahoo": ("empty_timestamps", "live_row"),
    "alphavantage": (
        "premium_full",
        "premium_adjusted",
        "demo_key",
        "daily_quota",
        "burst",
        "empty",
        "echo_key",
        "restated",
    ),
    "newsapi": ("odd_published_at", "null_descriptions", "echo_key"),
    "dart": ("daily_quota", "maintenance", "echo_key", "restated"),
    "llm": ("echo_key",),
    "rss": (),  # its quirks are always on (sim/providers/rss.py)
}
# Integer settings with their defaults (the real services' free-plan limits).
SETTINGS: dict[str, dict[str, int]] = {
    "alphavantage": {"daily_limit": 25},
    "dart": {"daily_limit": 20_000},
}
_QUOTA_ZONE = {"alphavantage": "America/New_York", "dart": "Asia/Seoul"}


@dataclass(frozen=True)
class Scenarios:
    """One provider's switched-on scenarios; build with `from_dict`."""

    provider: str
    on: frozenset[str] = frozenset()
    settings: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, provider: str, data: Mapping | None) -> Scenarios:
        """Validate `{"flag": true, "setting": 5}` for `provider`; FaultConfigError if unfit."""
        if provider not in FLAGS:
            raise FaultConfigError(f"unknown provider {provider!r}")
        data = dict(data or {})
        if not all(isinstance(k, str) for k in data):
            raise FaultConfigError("scenario names must be strings")
        known = SETTINGS.get(provider, {})
        unknown = set(data) - set(FLAGS[provider]) - set(known)
        if unknown:
            raise FaultConfigError(
                f"unknown {provider} scenarios: {sorted(unknown)} "
                f"(known: {sorted([*FLAGS[provider], *known])})"
            )
        on = set()
        for name in FLAGS[provider]:
            value = data.get(name, False)
            if not isinstance(value, bool):
                raise FaultConfigError(f"scenario {name} must be true or false")
            if value:
                on.add(name)
        settings = dict(known)
        for name in known:
            if name in data:
                value = data[name]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise FaultConfigError(f"{name} must be a whole number >= 0")
                settings[name] = value
        return cls(provider, frozenset(on), settings)

    def __contains__(self, name: str) -> bool:
        return name in self.on

    def to_dict(self) -> dict:
        """Every flag (true or false) and setting, JSON-ready."""
        return {**{n: n in self.on for n in FLAGS[self.provider]}, **self.settings}


class DailyQuota:
    """Requests per key and calendar day in the provider's home time zone."""

    def __init__(self, limit: int, tz: str) -> None:
        self.limit = limit
        self.tz = tz
        self._day = None
        self._counts: dict[str, int] = {}

    def exceeded(self, key: str, epoch: float) -> bool:
        """Count one request by `key` at `epoch`; True once it is over the day's limit."""
        day = local_date(epoch, self.tz)
        if day != self._day:
            self._day, self._counts = day, {}
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._counts[key] > self.limit


class ScenarioState:
    """A provider's scenarios plus the counters they need (daily quota, 1 request/s burst)."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.configure(Scenarios.from_dict(provider, {}))

    def configure(self, scenarios: Scenarios) -> None:
        """Install `scenarios` with fresh counters."""
        self.scenarios = scenarios
        limit = scenarios.settings.get("daily_limit", 0)
        self.quota = DailyQuota(limit, _QUOTA_ZONE.get(self.provider, "UTC"))
        self.burst = RateLimiter(RateLimit(limit=1, window_s=1.0))

    def __contains__(self, name: str) -> bool:
        return name in self.scenarios


def load_scenario_map(source: Mapping | str | Path | None) -> dict[str, Scenarios]:
    """{provider: Scenarios} from a mapping, a JSON file path, or an inline JSON object."""
    if source is None:
        return {}
    raw: object = source
    if isinstance(source, (str, Path)):
        text = str(source)
        raw = json.loads(
            text if text.lstrip().startswith("{") else Path(text).read_text(encoding="utf-8")
        )
    if not isinstance(raw, Mapping):
        raise FaultConfigError("scenarios must map provider names to scenario objects")
    return {str(name): Scenarios.from_dict(str(name), cfg) for name, cfg in raw.items()}

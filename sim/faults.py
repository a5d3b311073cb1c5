"""Fault injection per provider: the configuration schema, the rate limiter, and the
per-request decision (outage, rate limit, injected error, slowness, corrupt body).

Schema (JSON object per provider; every key optional, an empty object means no faults)::

    {
      "latency":    {"base_ms": 20, "jitter_ms": 10, "dist": "uniform" | "lognormal",
                     "sigma": 0.5},
      "error_rate": 0.1,                  # share answered with a 5xx (provider's error body)
      "error_status": 500 | [500, 502],   # status(es) drawn for injected errors
      "outages": [{"mode": "refuse" | "503", "start_s": 0, "duration_s": 5}],
                                          # "outage": {...} for one; duration null = until cleared
      "rate_limit": {"limit": 5, "window_s": 1, "window": "sliding" | "fixed",
                     "style": "provider" | "http429", "variant": "information" | "note" | "burst"},
                                          # or a list of such windows, all enforced at once
      "slow":       {"rate": 1.0, "delay_s": 30},   # answer only after delay_s
      "malformed_rate": 0.05,             # body made invalid JSON
      "truncated_rate": 0.05,             # body cut to a prefix (Content-Length matches)
      "max_results": 100,                 # newsapi: developer-plan cap (426 maximumResultsReached)
      "ttft_ms": 20, "tokens_per_s": 2000,  # llm: time to first token, then generation speed
      "rpm": 60, "tpm": 40000,            # llm: OpenAI-style 429 + Retry-After per minute
      "bad_citation_rate": 0.0,           # llm: reports cite an id that was not given
      "ungrounded_rate": 0.0,             # llm: reports on facts add a number no fact gives
      "models": {"sim-llm": 8192}         # llm: known models and their context windows
    }

With several `rate_limit` windows a request is admitted only when every window admits it (a
refused request counts in none); the window that would wait longest answers, in its style and
variant (e.g. Alpha Vantage's burst text for a per-second window, its daily text for a day).

Draws come from RNGs seeded by (seed, provider, fault kind), reseeded whenever the provider's
faults are set, so the same configuration and request order give the same faults.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sim import rng
from sim.stats import ProviderStats

if TYPE_CHECKING:
    from sim.scenarios import ScenarioState


class FaultConfigError(ValueError):
    """A fault configuration does not follow the schema."""


@dataclass(frozen=True)
class Latency:
    """Added delay: `base_ms` plus uniform [0, jitter_ms) or jitter_ms * lognormal(0, sigma)."""

    base_ms: float = 0.0
    jitter_ms: float = 0.0
    dist: str = "uniform"
    sigma: float = 0.5


@dataclass(frozen=True)
class Outage:
    """A window starting `start_s` after the faults are set; `duration_s` None = until cleared."""

    mode: str = "refuse"
    start_s: float = 0.0
    duration_s: float | None = None


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` admitted requests per `window_s` (sliding log or fixed windows)."""

    limit: int
    window_s: float = 1.0
    window: str = "sliding"
    style: str = "provider"
    variant: str = "information"

    @property
    def label(self) -> str:
        """A short name for counters, like `5/1s`."""
        return f"{self.limit}/{self.window_s:g}s"


@dataclass(frozen=True)
class Slow:
    """A share `rate` of requests answered only after `delay_s` seconds."""

    rate: float = 1.0
    delay_s: float = 30.0


@dataclass(frozen=True)
class FaultConfig:
    """One provider's faults; build with `from_dict`."""

    latency: Latency | None = None
    error_rate: float = 0.0
    error_status: tuple[int, ...] = (500,)
    outages: tuple[Outage, ...] = ()
    rate_limit: tuple[RateLimit, ...] = ()  # every window must admit a request
    slow: Slow | None = None
    malformed_rate: float = 0.0
    truncated_rate: float = 0.0
    max_results: int | None = None
    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    bad_citation_rate: float = 0.0
    ungrounded_rate: float = 0.0
    models: tuple[tuple[str, int], ...] | None = None  # (name, context window) pairs

    @classmethod
    def from_dict(cls, data: Mapping | None) -> FaultConfig:
        """Parse and validate the JSON schema above; raise FaultConfigError when it does not fit."""
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise FaultConfigError("faults must be a JSON object")
        data = dict(data)
        unknown = set(data) - {f for f in cls.__dataclass_fields__} - {"outage"}
        if unknown:
            raise FaultConfigError(f"unknown fault keys: {sorted(unknown)}")
        try:
            return cls._parse(data)
        except (TypeError, ValueError) as exc:
            raise FaultConfigError(str(exc)) from exc

    @classmethod
    def _parse(cls, data: dict) -> FaultConfig:
        outages = data.get("outages") or []
        if data.get("outage"):
            outages = [*outages, data["outage"]]
        status = data.get("error_status", 500)
        config = cls(
            latency=_sub(Latency, data.get("latency")),
            error_rate=_rate(data.get("error_rate", 0.0), "error_rate"),
            error_status=tuple(int(s) for s in (status if isinstance(status, list) else [status])),
            outages=tuple(_sub(Outage, o) for o in outages),
            rate_limit=_windows(data.get("rate_limit")),
            slow=_sub(Slow, data.get("slow")),
            malformed_rate=_rate(data.get("malformed_rate", 0.0), "malformed_rate"),
            truncated_rate=_rate(data.get("truncated_rate", 0.0), "truncated_rate"),
            max_results=_opt(data.get("max_results"), int),
            ttft_ms=_opt(data.get("ttft_ms"), float),
            tokens_per_s=_opt(data.get("tokens_per_s"), float),
            rpm=_opt(data.get("rpm"), int),
            tpm=_opt(data.get("tpm"), int),
            bad_citation_rate=_rate(data.get("bad_citation_rate", 0.0), "bad_citation_rate"),
            ungrounded_rate=_rate(data.get("ungrounded_rate", 0.0), "ungrounded_rate"),
            models=_models(data.get("models")),
        )
        config._check()
        return config

    def _check(self) -> None:
        if self.latency and self.latency.dist not in ("uniform", "lognormal"):
            raise FaultConfigError("latency.dist must be 'uniform' or 'lognormal'")
        if any(o.mode not in ("refuse", "503") for o in self.outages):
            raise FaultConfigError("outage mode must be 'refuse' or '503'")
        if any(not 500 <= s <= 599 for s in self.error_status):
            raise FaultConfigError("error_status must be 5xx")
        for limit in self.rate_limit:
            if limit.limit < 0 or limit.window_s <= 0:
                raise FaultConfigError("rate_limit needs limit >= 0 and window_s > 0")
            if limit.window not in ("sliding", "fixed"):
                raise FaultConfigError("rate_limit.window must be 'sliding' or 'fixed'")
            if limit.style not in ("provider", "http429"):
                raise FaultConfigError("rate_limit.style must be 'provider' or 'http429'")
            if limit.variant not in ("information", "note", "burst"):
                raise FaultConfigError(
                    "rate_limit.variant must be 'information', 'note' or 'burst'"
                )
        if (self.tokens_per_s is not None and self.tokens_per_s <= 0) or (self.ttft_ms or 0) < 0:
            raise FaultConfigError("tokens_per_s must be > 0 and ttft_ms >= 0")
        if any(v is not None and v < 1 for v in (self.rpm, self.tpm)):
            raise FaultConfigError("rpm and tpm must be >= 1")

    def to_dict(self) -> dict:
        """The configuration as JSON-ready data (the same schema, defaults filled in)."""
        out = asdict(self)
        out["error_status"] = list(self.error_status)
        out["outages"] = list(out["outages"])
        out["models"] = dict(self.models) if self.models is not None else None
        windows = out["rate_limit"]  # one window as the object it was given as, several a list
        out["rate_limit"] = (list(windows) if len(windows) > 1 else windows[0]) if windows else None
        return out


def _rate(value: object, name: str) -> float:
    rate = float(value)  # type: ignore[arg-type]
    if not 0.0 <= rate <= 1.0:
        raise FaultConfigError(f"{name} must be within [0, 1]")
    return rate


def _opt(value: object, kind: type):
    return None if value is None else kind(value)


def _models(value: object) -> tuple[tuple[str, int], ...] | None:
    """{"name": context_window} or a list of names (8192-token windows)."""
    if value is None:
        return None
    if isinstance(value, list):
        value = {str(name): 8192 for name in value}
    if not isinstance(value, Mapping) or not value:
        raise FaultConfigError("models must be a non-empty object or list")
    return tuple((str(k), int(v)) for k, v in value.items())


def _windows(value: object) -> tuple[RateLimit, ...]:
    """`rate_limit`: None, one window object or a list of them."""
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(_sub(RateLimit, v) for v in value)
    return (_sub(RateLimit, value),)


def _sub(kind: type, value: object):
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FaultConfigError(f"{kind.__name__.lower()} must be a JSON object")
    names = set(kind.__dataclass_fields__)
    if set(value) - names:
        raise FaultConfigError(f"unknown keys for {kind.__name__}: {sorted(set(value) - names)}")
    types = {"limit": int, "dist": str, "mode": str, "window": str, "style": str, "variant": str}
    return kind(**{k: (v if v is None else types.get(k, float)(v)) for k, v in value.items()})


class RateLimiter:
    """Exact admission counting over a sliding log or fixed windows."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._log: deque[float] = deque()
        self._origin = clock()
        self._window_id = 0
        self._count = 0

    def admit(self) -> float | None:
        """None when admitted (and counted), else seconds until a request would be admitted."""
        now = self._clock()
        wait = self.wait(now)
        if wait is None:
            self.record(now)
        return wait

    def wait(self, now: float) -> float | None:
        """None when a request at `now` would be admitted, else seconds until one would be;
        counts nothing (`record` does)."""
        cfg = self.limit
        if cfg.window == "fixed":
            window_id = int((now - self._origin) // cfg.window_s)
            if window_id != self._window_id:
                self._window_id, self._count = window_id, 0
            if self._count < cfg.limit:
                return None
            return self._origin + (window_id + 1) * cfg.window_s - now
        while self._log and self._log[0] <= now - cfg.window_s:
            self._log.popleft()
        if len(self._log) < cfg.limit:
            return None
        return (self._log[0] + cfg.window_s - now) if self._log else cfg.window_s

    def record(self, now: float) -> None:
        """Count one admitted request at `now` (after `wait` said None)."""
        if self.limit.window == "fixed":
            self._count += 1
        else:
            self._log.append(now)


@dataclass
class Decision:
    """What to do with one request, decided when it arrives."""

    action: str = "serve"  # serve | outage | limited | error
    status: int = 200
    latency_s: float = 0.0
    retry_after_s: float | None = None
    limit: RateLimit | None = None  # the window that refused a "limited" request
    slow_s: float = 0.0
    corrupt: str | None = None  # malformed | truncated
    cut: float = 1.0  # share of the body kept when truncated


@dataclass
class FaultState:
    """A provider's current faults, limiter, active outage and counters."""

    provider: str
    seed: int
    config: FaultConfig = field(default_factory=FaultConfig)
    outage: Outage | None = None
    stats: ProviderStats = field(default_factory=ProviderStats)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)  # rate-limit time
    scenarios: ScenarioState = field(init=False)

    def __post_init__(self) -> None:
        from sim.scenarios import ScenarioState  # scenarios build on this module's limiter

        self.scenarios = ScenarioState(self.provider)
        self.configure(self.config)

    def configure(self, config: FaultConfig) -> None:
        """Install `config`: fresh limiter, reseeded draws, no active outage."""
        self.config = config
        self.outage = None
        self.limiters = [RateLimiter(window, self.clock) for window in config.rate_limit]
        self._rngs = {
            kind: random.Random(rng.key(self.seed, "faults", self.provider, kind))
            for kind in ("latency", "error", "slow", "corrupt")
        }

    def decide(self) -> Decision:
        """Decide this request's fate and count it (outage > rate limit > error > serve)."""
        cfg, stats = self.config, self.stats
        stats.requests += 1
        decision = Decision(latency_s=self._latency())
        if self.outage is not None and self.outage.mode == "503":
            stats.outage_503 += 1
            decision.action, decision.status = "outage", 503
            return decision
        if self.limiters:
            now = self.clock()
            refused = [(w, lim.limit) for lim in self.limiters if (w := lim.wait(now)) is not None]
            if refused:  # the window that frees up last answers
                wait, window = max(refused, key=lambda item: item[0])
                stats.limited += 1
                stats.limited_by[window.label] += 1
                decision.action, decision.retry_after_s = "limited", max(wait, 0.0)
                decision.limit = window
                return decision
            for limiter in self.limiters:
                limiter.record(now)
        stats.admitted += 1
        if cfg.error_rate and self._rngs["error"].random() < cfg.error_rate:
            stats.errors_injected += 1
            decision.action = "error"
            decision.status = self._rngs["error"].choice(cfg.error_status)
            return decision
        if cfg.slow and self._rngs["slow"].random() < cfg.slow.rate:
            stats.slow += 1
            decision.slow_s = cfg.slow.delay_s
        draw = self._rngs["corrupt"].random()
        if draw < cfg.malformed_rate:
            decision.corrupt = "malformed"
        elif draw < cfg.malformed_rate + cfg.truncated_rate:
            decision.corrupt, decision.cut = "truncated", self._rngs["corrupt"].uniform(0.2, 0.9)
        return decision

    def _latency(self) -> float:
        lat = self.config.latency
        if lat is None:
            return 0.0
        r = self._rngs["latency"]
        if lat.dist == "lognormal":
            jitter = lat.jitter_ms * math.exp(r.gauss(0.0, lat.sigma))
        else:
            jitter = r.uniform(0.0, lat.jitter_ms)
        return max(0.0, lat.base_ms + jitter) / 1000.0


def read_fault_json(source: Mapping | str | Path | None) -> dict:
    """Raw fault JSON from a mapping, a JSON file path, or an inline JSON object."""
    if source is None:
        return {}
    raw: object = source
    if isinstance(source, (str, Path)):
        text = str(source)
        raw = (
            json.loads(text)
            if text.lstrip().startswith("{")
            else json.loads(Path(text).read_text(encoding="utf-8"))
        )
    if not isinstance(raw, Mapping):
        raise FaultConfigError("faults must map provider names to fault objects")
    return dict(raw)


def load_fault_map(source: Mapping | str | Path | None) -> dict[str, FaultConfig]:
    """{provider: FaultConfig} from a mapping, a JSON file path, or an inline JSON object."""
    return {str(name): FaultConfig.from_dict(cfg) for name, cfg in read_fault_json(source).items()}

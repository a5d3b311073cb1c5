"""A collection cycle planned against the providers' limits before its first request.

`plan_cycle` turns "these instruments, these capabilities" into provider requests (`Unit`s,
several instruments per request where the provider takes them, e.g. one NewsAPI query for
ten companies) and decides up front what does not fit: a window longer than the cycle
(NewsAPI's 100 a day, Alpha Vantage's 25) gives this cycle its fair share only, so the
schedule's later cycles still get theirs; a window shorter than the cycle bounds how many
requests fit in it. What does not fit in the primary provider goes to the next one in the
capability's order, within that one's share; what fits nowhere is deferred, stalest first
(the caller passes instruments stalest first, so the next cycle starts with them).

`ideal_s` is the least time the limits allow for the planned requests: for `n` requests
through a window of `r` per `t` seconds, `(ceil(n / r) - 1) * t`, the slowest provider
deciding. Pure functions: the job reads budgets from the provider actors and passes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from core.models import Capability, Instrument
from core.resilience.limiter import Window

Batcher = Callable[[str, Capability, list[Instrument]], list[list[Instrument]]]
Calls = Callable[[str, Capability], int]  # HTTP requests one fetch costs a provider
"""(provider, capability, instruments) → the instruments grouped one request per group."""

MAX_DEFERRED_SHOWN = 20
ONE_OFF_HORIZON_S = 3600.0
"""A run without a cycle may wait out windows shorter than this, not longer ones."""


@dataclass(frozen=True, slots=True)
class ProviderBudget:
    """A provider's configured windows and what each has left now (by `Window.label`;
    missing = the whole window); `exhausted` = its quota is spent (circuit held open)."""

    name: str
    windows: tuple[Window, ...]
    left: Mapping[str, float] = field(default_factory=dict)
    exhausted: bool = False

    def allowance(self, cycle_s: float | None) -> float:
        """Requests this cycle may send. `cycle_s` None is a one-off run: all that is left
        of the windows it cannot wait out (an hour or longer)."""
        if self.exhausted:
            return 0
        allowed = math.inf
        horizon = ONE_OFF_HORIZON_S if cycle_s is None else cycle_s
        for w in self.windows:
            left = max(0.0, float(self.left.get(w.label, w.requests)))
            if w.per_s >= horizon:  # the cycle cannot wait this window out
                share = left if cycle_s is None else math.ceil(w.requests * cycle_s / w.per_s)
                allowed = min(allowed, left, share)  # a cycle takes its fair share only
            else:  # refills within the cycle: as many as the cycle's length lets through
                allowed = min(allowed, left + w.requests * math.floor(horizon / w.per_s))
        return allowed


def least_time_s(windows: Sequence[Window], requests: int) -> float:
    """The least seconds `requests` calls take when every window must admit each one."""
    if requests <= 0:
        return 0.0
    return max((math.ceil(requests / w.requests) - 1) * w.per_s for w in windows) if windows else 0


@dataclass(frozen=True, slots=True)
class Unit:
    """One provider fetch: a capability for one or more instruments, costing `calls` HTTP
    requests of the provider's rate budget (most fetches are one request)."""

    capability: Capability
    provider: str
    instrument_ids: tuple[str, ...]
    calls: int = 1


@dataclass(frozen=True, slots=True)
class Deferral:
    """An instrument's capability left for the next cycle (`position`: its turn then)."""

    instrument_id: str
    capability: Capability
    reason: str
    position: int


@dataclass
class Plan:
    """The requests of one cycle, what was deferred, and the least time the limits allow."""

    units: list[Unit]
    deferred: list[Deferral]
    cycle_s: float | None
    ideal_by_provider: dict[str, float]

    @property
    def ideal_s(self) -> float:
        """The slowest provider's least time: the cycle cannot be shorter."""
        return max(self.ideal_by_provider.values(), default=0.0)

    def requests_by_provider(self) -> dict[str, int]:
        """Planned HTTP requests per provider."""
        out: dict[str, int] = {}
        for unit in self.units:
            out[unit.provider] = out.get(unit.provider, 0) + unit.calls
        return out

    def summary(self) -> dict:
        """JSON-ready: requests, ideal_s, deferred (count and the first ones), per provider."""
        per = self.requests_by_provider()
        return {
            "requests": sum(per.values()),
            "ideal_s": round(self.ideal_s, 2),
            "cycle_s": self.cycle_s,
            "deferred": len(self.deferred),
            "per_provider": {
                p: {"requests": n, "ideal_s": round(self.ideal_by_provider.get(p, 0.0), 2)}
                for p, n in sorted(per.items())
            },
            "deferred_first": [
                {"instrument": d.instrument_id, "capability": d.capability.value, "why": d.reason}
                for d in self.deferred[:MAX_DEFERRED_SHOWN]
            ],
        }

    def describe(self) -> list[str]:
        """Lines a person reads before the cycle starts."""
        per = ", ".join(f"{p} {n}" for p, n in sorted(self.requests_by_provider().items()))
        total = sum(self.requests_by_provider().values())
        lines = [f"plan: {total} requests ({per or 'none'}), at least {self.ideal_s:.0f}s"]
        if self.deferred:
            by_cap: dict[str, int] = {}
            for d in self.deferred:
                by_cap[d.capability.value] = by_cap.get(d.capability.value, 0) + 1
            counts = ", ".join(f"{c} {n}" for c, n in by_cap.items())
            first = self.deferred[0]
            lines.append(
                f"deferred to the next cycle: {len(self.deferred)} ({counts}), in this order, "
                f"first {', '.join(d.instrument_id for d in self.deferred[:5])}…: {first.reason}"
            )
        return lines


def plan_cycle(
    work: Mapping[Capability, Sequence[Instrument]],
    routes: Mapping[Capability, Sequence[str]],
    budgets: Mapping[str, ProviderBudget],
    cycle_s: float | None,
    batcher: Batcher,
    calls: Calls | None = None,
) -> Plan:
    """Requests for `work` (per capability, stalest first) over `routes` (providers in
    failover order) within each provider's allowance for a cycle of `cycle_s` seconds; a
    fetch spends `calls(provider, capability)` of it (default one)."""
    left = {name: b.allowance(cycle_s) for name, b in budgets.items()}
    units: list[Unit] = []
    deferred: list[Deferral] = []
    for capability, instruments in work.items():
        pending = list(instruments)
        reasons: list[str] = []
        for provider in routes.get(capability, []):
            if not pending:
                break
            budget = budgets.get(provider)
            groups = batcher(provider, capability, pending)
            cost = calls(provider, capability) if calls else 1
            taken = 0
            for group in groups:
                if left.get(provider, math.inf) < cost:
                    break
                units.append(Unit(capability, provider, tuple(i.id for i in group), cost))
                left[provider] = left.get(provider, math.inf) - cost
                taken += len(group)
            pending = [i for g in groups for i in g][taken:]  # a batcher may regroup
            if pending and budget is not None:
                reasons.append(f"{provider}: {_why(budget, cycle_s)}")
        if not routes.get(capability):
            reasons.append("no enabled provider serves it")
        why = "; ".join(reasons) or "no provider left"
        deferred += [
            Deferral(i.id, capability, why, len(deferred) + n) for n, i in enumerate(pending)
        ]
    ideal = {
        name: least_time_s(budgets[name].windows, n) if name in budgets else 0.0
        for name, n in Plan(units, [], cycle_s, {}).requests_by_provider().items()
    }
    return Plan(units, deferred, cycle_s, ideal)


def _why(budget: ProviderBudget, cycle_s: float | None) -> str:
    if budget.exhausted:
        return "quota spent until its reset"
    longest = max(budget.windows, key=lambda w: w.per_s, default=None)
    if longest is None:
        return "no budget"
    share = "this cycle's share of" if cycle_s is not None and longest.per_s >= cycle_s else ""
    return f"{share} its {longest.label} limit used".strip()

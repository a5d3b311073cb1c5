"""Failover between providers of one capability, in the priority order of providers.yaml.

The router asks each enabled provider in turn. It moves on when the error declares
`failover` (core.errors): a provider rate limited, out of quota (its circuit then stays open
until the quota resets), unavailable, timed out, behind an open circuit, answering garbage,
rejecting our key or whose plan does not cover the request (`PlanLimit`); it stops at
`NotFound`, which declares no failover (the symbol is unknown: another provider will not know
it either). A provider that cannot serve the request at all (an interval it lacks)
is skipped without a call.

Every routed call has one deadline (`deadline_s`), split between the providers: one with
another behind it gets at most `PRIMARY_SHARE` of the time left, the last gets all that
remains. A primary that hangs or queues therefore costs at most that share, never the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import ProviderError, QuotaExhausted, RateLimited
from core.models import Capability
from core.provider_service import outcome_of
from core.providers import CLIENTS

METHODS = {
    Capability.PRICES: "fetch_bars",
    Capability.NEWS: "fetch_news",
    Capability.DISCLOSURES: "fetch_disclosures",
    Capability.FUNDAMENTALS: "fetch_fundamentals",
}
ROUTE_DEADLINE_S = 20.0
"""Default time for one routed call, all providers tried included."""
PRIMARY_SHARE = 0.5
"""Share of the time left that a provider with another one behind it may use."""
MIN_CALL_S = 1.0
"""Time a provider gets even when the deadline is spent: a late answer beats none."""
# (provider, method, args, failover, deadline_s): `failover` is True when another provider
# comes next; `deadline_s` is the time this provider may take, queueing included.
Call = Callable[[str, str, tuple[Any, ...], bool, float], Awaitable[Any]]
BATCH_METHODS = {Capability.NEWS: "fetch_news_batch"}
OnFailover = Callable[[Capability, str, str], None]


class NoProviderAvailable(ProviderError):
    """No enabled provider serves this capability (or this particular request)."""


@dataclass(frozen=True, slots=True)
class Routed:
    """A result and which provider served it; `failovers` lists (provider, outcome) skipped."""

    provider: str
    result: Any
    failovers: tuple[tuple[str, str], ...] = field(default=())


def can_serve(provider: str, capability: Capability, interval: str | None) -> bool:
    """Whether `provider`'s client serves this capability (and interval, for prices)."""
    client = CLIENTS.get(provider)
    if client is None or capability not in client.capabilities:
        return False
    return interval is None or not client.INTERVALS or interval in client.INTERVALS


class FailoverRouter:
    """Routes calls by capability; `call(provider, method, args, failover)` does one call."""

    def __init__(
        self,
        order: dict[Capability, list[str]],
        enabled: set[str],
        call: Call,
        on_failover: OnFailover | None = None,
        deadline_s: float = ROUTE_DEADLINE_S,
    ) -> None:
        self.order = order
        self.enabled = enabled
        self._call = call
        self._on_failover = on_failover
        self.deadline_s = deadline_s

    def candidates(self, capability: Capability, interval: str | None = None) -> list[str]:
        """Enabled providers able to serve, in priority order."""
        return [
            p
            for p in self.order.get(capability, [])
            if p in self.enabled and can_serve(p, capability, interval)
        ]

    async def route(
        self,
        capability: Capability,
        *args: Any,
        interval: str | None = None,
        first: str | None = None,
    ) -> Routed:
        """Call the first provider that answers; raise the last error if none does.
        `first` (a cycle's plan) is asked before the others, which keep their order."""
        providers = self.candidates(capability, interval)
        if first in providers:
            providers = [first, *(p for p in providers if p != first)]
        if not providers:
            raise NoProviderAvailable(
                capability.value, "no enabled provider serves this request (see providers.yaml)"
            )
        skipped: list[tuple[str, str]] = []
        last: ProviderError | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline_s
        for i, provider in enumerate(providers):
            has_next = i + 1 < len(providers)
            left = max(deadline - loop.time(), MIN_CALL_S)
            share = left * PRIMARY_SHARE if has_next else left
            try:
                result = await self._ask(provider, capability, args, has_next, share, first)
                return Routed(provider, result, tuple(skipped))
            except ProviderError as err:
                if not err.failover:  # declared by the error (core.errors): NotFound stops
                    raise
                last = err
                skipped.append((provider, outcome_of(err)))
                if self._on_failover and i + 1 < len(providers):
                    self._on_failover(capability, provider, providers[i + 1])
        assert last is not None
        raise last

    async def _ask(
        self,
        provider: str,
        capability: Capability,
        args: tuple[Any, ...],
        has_next: bool,
        share: float,
        first: str | None,
    ) -> Any:
        try:
            return await self._call(provider, METHODS[capability], args, has_next, share)
        except RateLimited as err:
            if provider != first or isinstance(err, QuotaExhausted):
                raise
            # The plan budgeted this call: a 429 at a window's edge is waited out once (the
            # provider's limiter holds its Retry-After) before another provider's quota is
            # spent. Other errors fail over at once, as for any call.
            return await self._call(provider, METHODS[capability], args, has_next, share)

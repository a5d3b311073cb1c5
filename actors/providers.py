"""One named, detached async actor per provider, and the router that fails over between them."""

from __future__ import annotations

import logging
from typing import Any

import ray

from actors import NAMESPACE
from actors.events import publish
from actors.metrics import RayMetricsHooks, record_failover
from actors.request_minutes import MinuteHooks
from configs.settings import Settings, load_settings
from core.events import ProviderCircuit
from core.logs import bind, configure_logging
from core.models import Capability
from core.provider_service import ProviderService
from core.providers.sessions import calendar_for
from core.resilience.limiter import RateLimiter
from core.routing import (
    BATCH_METHODS,
    ROUTE_DEADLINE_S,
    FailoverRouter,
    NoProviderAvailable,
    Routed,
)

log = logging.getLogger("stockray.providers")
ROUTER_NAME = "provider-router"


def provider_actor_name(provider: str) -> str:
    """The Ray name of a provider's actor."""
    return f"provider:{provider}"


def _limiter(settings: Settings, name: str) -> RateLimiter | None:
    if settings.redis_url is None:
        return None  # the service's in-process limiter: this actor is the only caller
    import redis.asyncio as redis

    from core.resilience import RedisRateLimiter

    client = redis.from_url(settings.redis_url.get_secret_value())
    return RedisRateLimiter(client, name, settings.providers.providers[name].limits)


def _warm_calendars(settings: Settings) -> None:
    # Building an exchange calendar takes seconds (XKRX about 6 s on 2 cores) and would
    # block the event loop inside the first call, past its deadline: build them up front.
    for entry in settings.watchlist.instruments:
        calendar_for(entry.to_instrument())


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=3, max_concurrency=1000)
class ProviderActor:
    """Owns one provider's client, limiter, retries and circuit: the only caller of it."""

    def __init__(self, name: str) -> None:
        settings = load_settings()
        configure_logging(settings)
        bind(provider=name, stage="provider")
        config = settings.providers.providers[name]
        dsn = settings.database_url.get_secret_value() if settings.database_url else None
        self.minutes = MinuteHooks(RayMetricsHooks(), dsn)  # the request-rate chart's data
        self.service = ProviderService.build(
            name,
            config,
            api_key=settings.provider_key(name),
            base_url=settings.provider_urls.get(name),
            limiter=_limiter(settings, name),
            hooks=self.minutes,
        )
        self.name = name
        self._announced = self.service.breaker.state
        if Capability.PRICES in self.service.client.capabilities:
            _warm_calendars(settings)

    async def call(
        self, method: str, *args: Any, failover: bool = False, deadline_s: float | None = None
    ) -> Any:
        """One provider call (`fetch_bars`, `fetch_news`, `fetch_disclosures`), ending with
        `Timeout` after `deadline_s` (the caller's time left) at the latest."""
        try:
            return await self.service.call(method, *args, failover=failover, deadline_s=deadline_s)
        finally:
            await self._announce_circuit()

    async def _announce_circuit(self) -> None:
        # A `provider.circuit` event when the state differs from the last one announced
        # (concurrent calls see one change once).
        state = self.service.breaker.state
        if state == self._announced:
            return
        previous, self._announced = self._announced, state
        log.warning("circuit %s -> %s", previous, state, extra={"status": f"circuit_{state}"})
        health = await self.service.health()
        await publish(
            ProviderCircuit(
                provider=self.name,
                state=state,
                previous=previous,
                retry_in_s=self.service.breaker.retry_in_s,
                quota=health.get("quota"),
                last_error=health.get("last_error"),  # scrubbed of keys at the error's birth
            )
        )

    async def health(self) -> dict[str, Any]:
        """Plan, circuit, quota, budget, last success and error, counts."""
        return await self.service.health()

    async def __ray_shutdown__(self) -> None:
        await self.service.aclose()
        await self.minutes.aclose()


def provider_handle(name: str) -> ray.actor.ActorHandle:
    """The provider's actor, created if missing."""
    return ProviderActor.options(
        name=provider_actor_name(name),
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
    ).remote(name)


def _failed_over(capability: Capability, from_provider: str, to_provider: str) -> None:
    record_failover(capability.value, from_provider, to_provider)
    log.warning(
        "%s failed over from %s to %s", capability.value, from_provider, to_provider,
        extra={"provider": from_provider, "status": "failover"},
    )  # fmt: skip


def _unwrap(err: BaseException) -> BaseException:
    # A remote error arrives as RayTaskError; its `cause` is the typed error raised.
    return getattr(err, "cause", None) or err


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=3, max_concurrency=1000)
class ProviderRouter:
    """Routes each capability to its providers in priority order, failing over on trouble."""

    def __init__(self) -> None:
        settings = load_settings()
        configure_logging(settings)
        bind(stage="router")
        order = {Capability(c): names for c, names in settings.providers.capabilities.items()}
        self.disabled: dict[str, str] = {}
        for name in settings.providers.providers:
            problem = settings.provider_problem(name)
            if problem:
                self.disabled[name] = problem
                log.warning("provider %s skipped: %s", name, problem)  # once, at start
        enabled = set(settings.providers.providers) - set(self.disabled)
        self.handles = {name: provider_handle(name) for name in sorted(enabled)}
        self.router = FailoverRouter(
            order,
            enabled,
            self._call,
            on_failover=_failed_over,
        )

    async def _call(
        self, provider: str, method: str, args: tuple[Any, ...], failover: bool, deadline_s: float
    ) -> Any:
        # The actor times the deadline from when it runs the call: an actor still starting
        # (seconds on a loaded machine) is not a provider's slowness.
        try:
            return await self.handles[provider].call.remote(
                method, *args, failover=failover, deadline_s=deadline_s
            )
        except ray.exceptions.RayTaskError as err:
            raise _unwrap(err) from None

    async def fetch_bars(
        self, instrument: Any, start: Any, end: Any, interval: str = "1d", first: str | None = None
    ) -> Routed:
        """Bars from the first price provider that answers (`first`: the plan's, asked first)."""
        return await self.router.route(
            Capability.PRICES, instrument, start, end, interval, interval=interval, first=first
        )

    async def fetch_news(
        self, instrument: Any, start: Any, end: Any, limit: int = 100, first: str | None = None
    ) -> Routed:
        """Articles from the first news provider that answers."""
        return await self.router.route(Capability.NEWS, instrument, start, end, limit, first=first)

    async def fetch_disclosures(
        self, instrument: Any, start: Any, end: Any, first: str | None = None
    ) -> Routed:
        """Filings from the first disclosure provider that answers."""
        return await self.router.route(Capability.DISCLOSURES, instrument, start, end, first=first)

    async def fetch_fundamentals(
        self, instrument: Any, start: Any, end: Any, first: str | None = None
    ) -> Routed:
        """Financial statements of the periods ending in [start, end), first that answers."""
        return await self.router.route(Capability.FUNDAMENTALS, instrument, start, end, first=first)

    async def fetch_batch(
        self, provider: str, capability: Capability, instruments: list, start: Any, end: Any
    ) -> Routed:
        """One multi-instrument request to `provider` (a plan's batch): no failover, since the
        others take one instrument per request and the plan did not budget for that; its
        instruments are the stalest of the next cycle if it fails. Result: id → items."""
        if provider not in self.handles:
            raise NoProviderAvailable(provider, "not enabled")
        result = await self._call(
            provider, BATCH_METHODS[capability], (instruments, start, end), False, ROUTE_DEADLINE_S
        )
        return Routed(provider, result)

    async def health(self) -> dict[str, dict[str, Any]]:
        """Per provider: plan, circuit, quota, budget, last success/error, counts; or why it
        is disabled."""
        report: dict[str, dict[str, Any]] = {
            name: {"provider": name, "enabled": False, "reason": reason}
            for name, reason in self.disabled.items()
        }
        for name, handle in self.handles.items():
            try:
                report[name] = await handle.health.remote()
            except ray.exceptions.RayError as err:
                report[name] = {"provider": name, "enabled": True, "error": type(err).__name__}
        return report


def router_handle() -> ray.actor.ActorHandle:
    """The provider router, created if missing."""
    return ProviderRouter.options(
        name=ROUTER_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote()

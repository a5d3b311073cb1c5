"""The LLM gateway as one named actor: every job's calls share its limits and budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import ray

from actors import NAMESPACE
from configs.settings import Settings, load_settings
from core.llm.gateway import Completion, LLMGateway
from core.logs import bind, configure_logging
from core.storage.db import create_pool

GATEWAY_NAME = "llm-gateway"


def usable_endpoints(settings: Settings) -> list[tuple[Any, str]]:
    """(endpoint config, key) of every endpoint with a key, URL overrides applied."""
    out = []
    for endpoint in settings.llm.endpoints:
        key = settings.llm_keys.get(endpoint.name)
        if key is None or not key.get_secret_value():
            continue
        url = settings.llm_urls.get(endpoint.name)
        out.append((endpoint.model_copy(update={"base_url": url}) if url else endpoint, key))
    return [(e, k.get_secret_value()) for e, k in out]


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=1000)
class LLMGatewayActor:
    """Holds the gateway (clients, limiters, cooldowns) and a Postgres pool for its budget."""

    def __init__(self) -> None:
        self.settings = load_settings()
        configure_logging(self.settings)
        bind(stage="llm")
        self._gateway: LLMGateway | None = None
        self._lock = asyncio.Lock()

    async def _get(self) -> LLMGateway | None:
        async with self._lock:
            endpoints = usable_endpoints(self.settings)
            if self._gateway is None and endpoints:
                pricing = self.settings.pricing
                pool = await create_pool(self.settings.database_url.get_secret_value())
                self._gateway = LLMGateway(
                    endpoints,
                    pricing.models,
                    pool,
                    daily_usd=pricing.budget.daily_usd,
                    per_call_usd=pricing.budget.per_call_usd,
                    retry=self.settings.llm.retry,
                    cooldown_s=self.settings.llm.cooldown_s,
                )
            return self._gateway

    async def enabled(self) -> bool:
        """Whether any endpoint has a key (else callers use the lexicon)."""
        return await self._get() is not None

    async def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> Completion:
        """`LLMGateway.complete` (see there)."""
        gateway = await self._get()
        if gateway is None:
            raise RuntimeError("no LLM endpoint has a key (STOCKRAY_LLM_KEYS__<NAME>)")
        return await gateway.complete(messages, **kwargs)

    async def stream(self, messages: list[dict[str, str]], **kwargs: Any) -> AsyncIterator[Any]:
        """`LLMGateway.stream` (see there): deltas, then the `Completion`."""
        gateway = await self._get()
        if gateway is None:
            raise RuntimeError("no LLM endpoint has a key (STOCKRAY_LLM_KEYS__<NAME>)")
        async for item in gateway.stream(messages, **kwargs):
            yield item

    async def health(self) -> dict[str, Any]:
        """Each endpoint's structured mode now and as configured, its step-downs and
        cooldown, and today's budget; `enabled` False when no endpoint has a key."""
        gateway = await self._get()
        if gateway is None:
            return {"enabled": False, "endpoints": [], "budget": None}
        return {
            "enabled": True,
            "endpoints": gateway.health(),
            "budget": await gateway.budget.state(),
        }

    async def budget(self) -> dict[str, float]:
        """Today's limit, reserved, spent and left (USD)."""
        gateway = await self._get()
        return await gateway.budget.state() if gateway else {}


def gateway_handle() -> ray.actor.ActorHandle:
    """The gateway actor, created if missing."""
    return LLMGatewayActor.options(
        name=GATEWAY_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote()


def remote_complete(handle: ray.actor.ActorHandle):
    """An async `complete` that calls the actor and re-raises its typed errors as such."""

    async def complete(messages: list[dict[str, str]], **kwargs: Any) -> Completion:
        try:
            return await handle.complete.remote(messages, **kwargs)
        except ray.exceptions.RayTaskError as err:
            raise (getattr(err, "cause", None) or err) from None

    return complete


class GatewayClient:
    """`complete` and `stream` of the gateway actor, its typed errors re-raised as such."""

    def __init__(self, handle: ray.actor.ActorHandle) -> None:
        self.handle = handle
        self.complete = remote_complete(handle)

    async def stream(self, messages: list[dict[str, str]], **kwargs: Any) -> AsyncIterator[Any]:
        """Deltas, then the `Completion`; an abandoned stream cancels the actor's call."""
        refs = self.handle.stream.options(num_returns="streaming").remote(messages, **kwargs)
        finished = False
        try:
            async for ref in refs:
                yield await ref
            finished = True
        except ray.exceptions.RayTaskError as err:
            finished = True
            raise (getattr(err, "cause", None) or err) from None
        finally:
            if not finished:
                ray.cancel(refs)

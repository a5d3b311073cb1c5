"""The dedupe actor: first-seen checks for article fingerprints when there is no Redis."""

from __future__ import annotations

from collections.abc import Sequence

import ray

from actors import NAMESPACE
from configs.settings import Settings
from core.storage.dedupe import DEFAULT_TTL_S, Dedupe, MemoryDedupe, RedisDedupe

DEDUPE_NAME = "dedupe"


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=3)
class DedupeActor:
    """Holds the cluster's claims in memory; a restart forgets them (the database still dedupes)."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        self._dedupe = MemoryDedupe(ttl_s)

    async def first_seen(self, fingerprints: list[str]) -> list[bool]:
        """True for each fingerprint not claimed within the TTL; claims it."""
        return await self._dedupe.first_seen(fingerprints)

    async def forget(self, fingerprints: list[str]) -> None:
        """Release claims after a failed write."""
        await self._dedupe.forget(fingerprints)

    async def size(self) -> int:
        """How many claims are held."""
        return len(self._dedupe)


def dedupe_handle(ttl_s: float = DEFAULT_TTL_S) -> ray.actor.ActorHandle:
    """The dedupe actor, created if missing (`ttl_s` applies only when it is created)."""
    return DedupeActor.options(
        name=DEDUPE_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote(ttl_s)


class ActorDedupe:
    """The `Dedupe` interface over the dedupe actor."""

    def __init__(self, handle: ray.actor.ActorHandle) -> None:
        self._handle = handle

    async def first_seen(self, fingerprints: Sequence[str]) -> list[bool]:
        """True for each fingerprint not claimed within the TTL; claims it."""
        return await self._handle.first_seen.remote(list(fingerprints))

    async def forget(self, fingerprints: Sequence[str]) -> None:
        """Release claims after a failed write."""
        await self._handle.forget.remote(list(fingerprints))


async def make_dedupe(settings: Settings, ttl_s: float | None = None) -> Dedupe:
    """Redis-backed when `settings.redis_url` is set, else the dedupe actor."""
    ttl_s = settings.dedupe_ttl_s if ttl_s is None else ttl_s
    if settings.redis_url is not None:
        import redis.asyncio as redis

        client = redis.from_url(settings.redis_url.get_secret_value())
        return RedisDedupe(client, ttl_s)
    return ActorDedupe(dedupe_handle(ttl_s))

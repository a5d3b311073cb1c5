"""The event hub: jobs publish (`collected`, `report.published`, ...), the API listens.

One named actor keeps a bounded, ordered log of recent events, so a listener that
reconnects asks for everything after the last id it saw. With Redis configured, each
event is also published on the `stockray:events` channel for other clusters and replicas.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

import ray

from actors import NAMESPACE
from configs.settings import load_settings

EVENTS_NAME = "event-hub"
CHANNEL = "stockray:events"
KEEP = 10_000


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=3)
class EventHub:
    """Ordered recent events; ids increase by one."""

    def __init__(self) -> None:
        self._log: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._next_id = 1
        settings = load_settings()
        self._redis = None
        if settings.redis_url is not None:
            import redis.asyncio as redis

            self._redis = redis.from_url(settings.redis_url.get_secret_value())

    async def publish(self, kind: str, payload: dict[str, Any]) -> int:
        """Append an event; return its id."""
        event = {"id": self._next_id, "type": kind, "at": time.time(), "payload": payload}
        self._next_id += 1
        self._log.append(event)
        if self._redis is not None:
            await self._redis.publish(CHANNEL, json.dumps(event, default=str))
        return event["id"]

    async def since(self, last_id: int = 0, kinds: list[str] | None = None) -> list[dict]:
        """Events after `last_id` (optionally of these kinds), oldest first."""
        return [e for e in self._log if e["id"] > last_id and (not kinds or e["type"] in kinds)]


def events_handle() -> ray.actor.ActorHandle:
    """The event hub, created if missing."""
    return EventHub.options(
        name=EVENTS_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote()

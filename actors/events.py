"""The event hub: jobs publish (`bar`, `article`, `report.published`, ...), the API listens.

Every event is `{"id", "type", "instrument", "at", "payload"}`. Ids are cluster-wide and
increase by one; a hub that lost its state (actor restart, Redis flushed) starts again from
the clock in microseconds, above any id it issued before, so ids only ever increase. The
last `KEEP` events are kept for listeners that reconnect and ask for what they missed.

One named actor is the publishing path for every producer. Where the events live
(`core.event_log`): without Redis in the actor's memory, listeners long-poll `EventHub.read`;
with `settings.redis_url` in Redis, listeners subscribe to its channel and read gaps back
from its stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from functools import partial
from typing import Any, Protocol

import ray

from actors import NAMESPACE
from configs.settings import Settings, load_settings
from core.event_log import CHANNEL, READ_LIMIT, EventLog, MemoryEvents, RedisEvents
from core.events import KEEP, Payload, dumps, event_body

__all__ = [
    "KEEP", "EventHub", "EventLog", "EventSink", "MemoryEvents", "RedisEvents", "dumps",
    "event_body", "events_handle", "follow", "publish",
]  # fmt: skip

log = logging.getLogger("stockray.events")

EVENTS_NAME = "event-hub"
POLL_S = 10.0  # a listener's long poll / pub-sub wait before it asks again
RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # a listener's backoff after losing the hub or Redis


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=3, max_concurrency=1000)
class EventHub:
    """Assigns ids and keeps the last `KEEP` events (in Redis when configured)."""

    def __init__(self) -> None:
        url = load_settings().redis_url
        self._log: EventLog = MemoryEvents() if url is None else RedisEvents(url.get_secret_value())

    def backend(self) -> str:
        """`redis` or `actor`: where listeners read from."""
        return "redis" if isinstance(self._log, RedisEvents) else "actor"

    async def publish(
        self, kind: str, payload: dict[str, Any], instrument: str | None = None
    ) -> int:
        """Append an event (instrument defaults to `payload["instrument"]`); return its id."""
        return await self._log.publish(event_body(kind, payload, instrument))

    async def read(
        self, after: int, timeout_s: float = 10.0, limit: int = READ_LIMIT
    ) -> tuple[int, list[dict[str, Any]]]:
        """`(floor, events)`: events with id > `after`, waiting up to `timeout_s` for one.

        Every id above `floor` is still kept; a reader whose `after` is below it missed some.
        """
        return await self._log.read(after, timeout_s, limit)

    async def since(self, last_id: int = 0, kinds: list[str] | None = None) -> list[dict]:
        """Events after `last_id` (optionally of these kinds), oldest first."""
        _, events = await self._log.tail()
        return [e for e in events if e["id"] > last_id and (not kinds or e["type"] in kinds)]


def events_handle() -> ray.actor.ActorHandle:
    """The event hub, created if missing."""
    return EventHub.options(
        name=EVENTS_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote()


async def publish(event: Payload, instrument: str | None = None) -> int | None:
    """Publish `event` (a `core.events` payload) through the hub from a job or actor; a
    failure is logged, not raised. `instrument` defaults to the payload's.

    Events are notifications: the data they announce is already committed, and a listener
    that missed one resyncs from the API, so no producer fails because the hub is away.
    """
    try:
        return await events_handle().publish.remote(event.KIND, event.dump(), instrument)
    except Exception as exc:  # the hub is restarting or unreachable; the data is safe
        log.warning("event %s not published: %s", event.KIND, type(exc).__name__)
        return None


class EventSink(Protocol):
    """What a listener feeds: its newest id, a first snapshot, then new events in order."""

    last_id: int

    def seed(self, floor: int, events: list[dict[str, Any]]) -> None: ...

    def accept(self, floor: int, events: list[dict[str, Any]]) -> None: ...


async def follow(settings: Settings, sink: EventSink) -> None:
    """Feed `sink` every event, in id order, until cancelled; reconnects on its own.

    `seed` comes once with the buffer as it stands; afterwards a reconnect first reads back
    what was missed, so the sink sees each id once and, within the buffer, none is lost.
    """
    url = settings.redis_url  # where the hub keeps events: chosen once
    source = (
        partial(_follow_actor, sink)
        if url is None
        else partial(_follow_redis, url.get_secret_value(), sink)
    )
    failures = 0
    while True:
        started = time.monotonic()
        try:
            await source()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the hub restarts or Redis went away: back off, catch up
            if time.monotonic() - started > 60:
                failures = 0  # it had been working: a fresh outage starts the backoff over
            delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
            log.warning(
                "event listener lost its source (%s); retry in %.1fs", type(exc).__name__, delay
            )
            failures += 1
            await asyncio.sleep(delay)


async def _follow_actor(sink: EventSink) -> None:
    hub = events_handle()
    if not sink.last_id:
        sink.seed(*await hub.read.remote(0, 0.0, KEEP))
    while True:
        sink.accept(*await hub.read.remote(sink.last_id, POLL_S))


async def _follow_redis(url: str, sink: EventSink) -> None:
    source = RedisEvents(url)
    pubsub = source.client.pubsub()
    try:
        await pubsub.subscribe(CHANNEL)  # first, so nothing falls between it and the read
        if sink.last_id:
            await _catch_up(source, sink)
        else:
            sink.seed(*await source.tail())
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_S)
            _raise_if_cancelled()  # redis-py can swallow a cancellation while it reads
            if message is None:
                continue
            event = json.loads(message["data"])
            if event["id"] > sink.last_id + 1:
                await _catch_up(source, sink)  # a gap: the stream has it, this one included
            else:
                sink.accept(0, [event])
    finally:
        await pubsub.aclose()
        await source.aclose()


def _raise_if_cancelled() -> None:
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _catch_up(source: RedisEvents, sink: EventSink) -> None:
    while True:
        floor, events = await source.read(sink.last_id)
        sink.accept(floor, events)
        if len(events) < READ_LIMIT:
            return

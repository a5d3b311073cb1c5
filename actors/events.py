"""The event hub: jobs publish (`bar`, `article`, `report.published`, ...), the API listens.

Every event is `{"id", "type", "instrument", "at", "payload"}`. Ids are cluster-wide and
increase by one; a hub that lost its state (actor restart, Redis flushed) starts again from
the clock in microseconds, above any id it issued before, so ids only ever increase. The
last `KEEP` events are kept for listeners that reconnect and ask for what they missed.

One named actor is the publishing path for every producer. Where the events live:
- without Redis, in the actor's ring buffer; listeners long-poll `EventHub.read`;
- with `settings.redis_url`, in Redis: one Lua script assigns the id (INCR), appends to the
  capped stream `stockray:events:log` and publishes on the `stockray:events` channel, all
  atomically, so the channel's order is the ids' order; listeners subscribe to the channel
  and read gaps back from the stream (`RedisEvents`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from itertools import islice
from typing import Any, Protocol

import ray

from actors import NAMESPACE
from configs.settings import Settings, load_settings
from core.events import KEEP, Payload, dumps, event_body

__all__ = [
    "KEEP", "EventHub", "EventLog", "EventSink", "MemoryEvents", "RedisEvents", "dumps",
    "event_body", "events_handle", "follow", "publish",
]  # fmt: skip

log = logging.getLogger("stockray.events")

EVENTS_NAME = "event-hub"
CHANNEL = "stockray:events"
STREAM = "stockray:events:log"
COUNTER = "stockray:events:id"
READ_LIMIT = 1_000
POLL_S = 10.0  # a listener's long poll / pub-sub wait before it asks again
RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # a listener's backoff after losing the hub or Redis

# KEYS: counter, stream. ARGV: the event's JSON without its id, KEEP, channel.
# A missing counter restarts from the clock (µs), above every id issued before it was lost.
# Ids pass 2^31, so they are formatted with %.0f (exact below 2^53), never tostring.
_PUBLISH = """
local id = redis.call('INCR', KEYS[1])
if id == 1 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', tonumber(t[2])))
  id = redis.call('INCR', KEYS[1])
end
local sid = string.format('%.0f', id)
local event = '{"id":' .. sid .. ',' .. string.sub(ARGV[1], 2)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], sid .. '-0', 'e', event)
redis.call('PUBLISH', ARGV[3], event)
return sid
"""


def clock_id() -> int:
    """The first id of a hub that starts without state: now in microseconds."""
    return time.time_ns() // 1_000


class EventLog(Protocol):
    """Where the hub keeps events: chosen once, when the hub starts (Redis or its memory)."""

    async def publish(self, body: dict[str, Any]) -> int:
        """Append one event (`body` has no id yet); its id."""
        ...

    async def read(
        self, after: int, timeout_s: float = 0.0, limit: int = READ_LIMIT
    ) -> tuple[int, list[dict[str, Any]]]:
        """`(floor, events)`: events with id > `after`, oldest first."""
        ...

    async def tail(self, count: int = KEEP) -> tuple[int, list[dict[str, Any]]]:
        """`(floor, events)`: the newest `count` events, oldest first."""
        ...


class MemoryEvents:
    """The hub's own ring of the last `KEEP` events; a read waits for one to come."""

    def __init__(self) -> None:
        self._log: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._next_id = clock_id()
        self._changed: asyncio.Event | None = None

    async def publish(self, body: dict[str, Any]) -> int:
        """Append one event and wake the waiting readers; its id."""
        event = {"id": self._next_id, **body}
        self._next_id += 1
        self._log.append(event)
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        return event["id"]

    async def read(
        self, after: int, timeout_s: float = 0.0, limit: int = READ_LIMIT
    ) -> tuple[int, list[dict[str, Any]]]:
        """`(floor, events)` after `after`, waiting up to `timeout_s` when there are none."""
        if self._next_id - 1 <= after and timeout_s > 0:
            if self._changed is None:
                self._changed = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout_s)
        floor = self._floor()
        start = max(0, after - floor)  # ids are consecutive: the first wanted is at an offset
        return floor, list(islice(self._log, start, start + limit))

    async def tail(self, count: int = KEEP) -> tuple[int, list[dict[str, Any]]]:
        """`(floor, events)`: the newest `count` events."""
        events = list(self._log)[-count:]
        return (events[0]["id"] - 1 if events else self._next_id - 1), events

    def _floor(self) -> int:
        return self._log[0]["id"] - 1 if self._log else self._next_id - 1


class RedisEvents:
    """The Redis backend: publish through the Lua script, read back from the capped stream."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self.client = redis.from_url(url)
        self._publish = self.client.register_script(_PUBLISH)

    async def publish(self, body: dict[str, Any]) -> int:
        """Append and broadcast one event; its id."""
        return int(await self._publish(keys=[COUNTER, STREAM], args=[dumps(body), KEEP, CHANNEL]))

    async def read(
        self, after: int, timeout_s: float = 0.0, limit: int = READ_LIMIT
    ) -> tuple[int, list[dict[str, Any]]]:
        """`(floor, events)`: events with id > `after`, oldest first; every id > floor is kept.

        Never waits (`timeout_s` is for the protocol): listeners wait on the channel."""
        rows = await self.client.xrange(STREAM, min=f"({after}-0", max="+", count=limit)
        return await self._floor(), [json.loads(fields[b"e"]) for _, fields in rows]

    async def tail(self, count: int = KEEP) -> tuple[int, list[dict[str, Any]]]:
        """`(floor, events)`: the newest `count` events, oldest first."""
        rows = await self.client.xrevrange(STREAM, max="+", min="-", count=count)
        events = [json.loads(fields[b"e"]) for _, fields in reversed(rows)]
        floor = events[0]["id"] - 1 if events else await self._newest()
        return floor, events

    async def _floor(self) -> int:
        first = await self.client.xrange(STREAM, min="-", max="+", count=1)
        return int(first[0][0].split(b"-")[0]) - 1 if first else await self._newest()

    async def _newest(self) -> int:
        return int(await self.client.get(COUNTER) or 0)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


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
    failures = 0
    while True:
        started = time.monotonic()
        try:
            if settings.redis_url is None:
                await _follow_actor(sink)
            else:
                await _follow_redis(settings.redis_url.get_secret_value(), sink)
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

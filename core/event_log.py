"""Where the event hub keeps events: its own memory, or Redis. Chosen once, when it starts.

Ids are cluster-wide and increase by one; a log that lost its state (restart, Redis
flushed) starts again from the clock in microseconds, above any id it issued before, so ids
only ever increase. The last `KEEP` events are kept for listeners that ask what they missed.

- `MemoryEvents`: a ring buffer; a read waits (long poll) until an event comes.
- `RedisEvents`: one Lua script assigns the id (INCR), appends to the capped stream
  `stockray:events:log` and publishes on the `stockray:events` channel, all atomically, so
  the channel's order is the ids' order; listeners subscribe to the channel and read gaps
  back from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from itertools import islice
from typing import Any, Protocol

from core.events import KEEP, dumps

CHANNEL = "stockray:events"
STREAM = "stockray:events:log"
COUNTER = "stockray:events:id"
READ_LIMIT = 1_000

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

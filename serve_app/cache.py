"""Hot reads, cached as rendered bodies and dropped by the events that change them.

An entry is tagged with what it was read from (`instrument:AAPL`, `instruments`). Every live
event naming an instrument invalidates that instrument's entries on every replica (each
replica's listener sees every event). A per-tag generation closes the race where a read
that started before an event would store its older answer after the invalidation: the put
is skipped when the tag's generation moved meanwhile. The TTL bounds the staleness of
anything an event does not cover.

With Redis configured the entries are shared by all replicas (`stockray:cache:*`);
otherwise each replica keeps its own, bounded by `MAX_LOCAL_ENTRIES`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("stockray.serve")

MAX_LOCAL_ENTRIES = 2_000
_PREFIX = "stockray:cache:"

# KEYS: entry key, then the tags' generation keys. ARGV: ttl_ms, payload, expected gens.
# Stores the entry and links it from each tag's member set, unless a generation moved.
_PUT = """
local n = (#KEYS - 1)
for i = 1, n do
  if (redis.call('GET', KEYS[i + 1]) or '0') ~= ARGV[2 + i] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
for i = 1, n do
  local members = KEYS[i + 1] .. ':keys'
  redis.call('SADD', members, KEYS[1])
  redis.call('PEXPIRE', members, ARGV[1])
end
return 1
"""

# KEYS: the tag's generation key. Bumps the generation and deletes the tag's entries.
_INVALIDATE = """
redis.call('INCR', KEYS[1])
local members = KEYS[1] .. ':keys'
for _, key in ipairs(redis.call('SMEMBERS', members)) do redis.call('DEL', key) end
redis.call('DEL', members)
return 1
"""


@dataclass(frozen=True, slots=True)
class Cached:
    """A rendered response body and its media type."""

    body: bytes
    media_type: str


def tags_of(event: dict[str, Any]) -> list[str]:
    """The cache tags an event makes stale."""
    instrument = event.get("instrument") or (event.get("payload") or {}).get("instrument")
    return [f"instrument:{instrument}"] if instrument else []


class ReadCache:
    """Rendered hot reads by request key; `ttl_s` 0 turns caching off."""

    def __init__(self, ttl_s: float, redis: Any = None) -> None:
        self.ttl_s = ttl_s
        self._redis = redis
        self._local: OrderedDict[str, tuple[float, tuple[str, ...], Cached]] = OrderedDict()
        self._gens: dict[str, int] = {}
        self._by_tag: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task] = set()
        if redis is not None:
            self._put = redis.register_script(_PUT)
            self._invalidate = redis.register_script(_INVALIDATE)

    @property
    def enabled(self) -> bool:
        """False when the TTL is 0."""
        return self.ttl_s > 0

    async def generations(self, tags: list[str]) -> list[str]:
        """The tags' generations now; pass them to `put` to detect a concurrent change."""
        if self._redis is None:
            return [str(self._gens.get(t, 0)) for t in tags]
        values = await self._redis.mget([_PREFIX + "gen:" + t for t in tags])
        return [(v.decode() if isinstance(v, bytes) else v) or "0" for v in values]

    async def get(self, key: str) -> Cached | None:
        """The cached body for `key`, if fresh."""
        if self._redis is not None:
            raw = await self._redis.get(_PREFIX + _digest(key))
            if raw is None:
                return None
            media_type, _, body = raw.partition(b"\n")
            return Cached(body, media_type.decode())
        entry = self._local.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[2]

    async def put(self, key: str, tags: list[str], gens: list[str], value: Cached) -> None:
        """Store `value` unless one of `tags` changed since `gens` was read."""
        if self._redis is not None:
            payload = value.media_type.encode() + b"\n" + value.body
            await self._put(
                keys=[_PREFIX + _digest(key), *(_PREFIX + "gen:" + t for t in tags)],
                args=[int(self.ttl_s * 1000), payload, *gens],
            )
            return
        if [str(self._gens.get(t, 0)) for t in tags] != gens:
            return
        self._local[key] = (time.monotonic() + self.ttl_s, tuple(tags), value)
        self._local.move_to_end(key)
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while len(self._local) > MAX_LOCAL_ENTRIES:
            old, (_, old_tags, _) = self._local.popitem(last=False)
            for tag in old_tags:
                self._by_tag.get(tag, set()).discard(old)

    def on_event(self, event: dict[str, Any]) -> None:
        """Invalidate what `event` makes stale (a `ctx.on_event` hook; never raises)."""
        for tag in tags_of(event):
            self._gens[tag] = self._gens.get(tag, 0) + 1
            if self._redis is None:
                for key in self._by_tag.pop(tag, ()):
                    self._local.pop(key, None)
            else:
                task = asyncio.get_running_loop().create_task(self._drop(tag))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _drop(self, tag: str) -> None:
        try:
            await self._invalidate(keys=[_PREFIX + "gen:" + tag])
        except Exception as exc:  # the TTL still bounds staleness; say why it was not sooner
            log.warning("cache invalidation of %s failed: %s", tag, type(exc).__name__)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()

"""Hot reads, cached as rendered bodies and dropped by the events that change them.

An entry is tagged with what it was read from (`instrument:AAPL`, `instruments`). Every live
event naming an instrument invalidates that instrument's entries on every replica (each
replica's listener sees every event). A per-tag generation closes the race where a read
that started before an event would store its older answer after the invalidation: the put
is skipped when the tag's generation moved meanwhile. The TTL bounds the staleness of
anything an event does not cover.

With Redis configured the entries are shared by all replicas (`stockray:cache:*`);
otherwise, and while Redis does not answer, each replica keeps its own, bounded by
`STOCKRAY_API_CACHE_MAX_BYTES` (least recently used dropped first). A request's key holds
only the query parameters its route declares, so made-up ones cannot mint entries.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import typing
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request

from serve_app.redis_fallback import RedisFallback

log = logging.getLogger("stockray.serve")

ENTRY_OVERHEAD = 200  # bytes an entry costs beyond its body and key (tuple, dict slots)
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
    """The cache tags an event makes stale: the instrument's, and the watchlist's (which
    shows every instrument)."""
    instrument = event.get("instrument") or (event.get("payload") or {}).get("instrument")
    return [f"instrument:{instrument}", "watchlist"] if instrument else []


class CacheStore(Protocol):
    """Where entries live: the replica's memory or Redis (shared by every replica)."""

    async def generations(self, tags: list[str]) -> list[str]:
        """The tags' generations now."""
        ...

    async def get(self, key: str) -> Cached | None:
        """The body stored for `key`, if fresh."""
        ...

    async def put(self, key: str, tags: list[str], gens: list[str], value: Cached) -> None:
        """Store `value` for `ttl_s` unless one of `tags` changed since `gens` was read."""
        ...

    def invalidate(self, tag: str) -> None:
        """Drop the tag's entries and move its generation on (now or in a task; never
        raises)."""
        ...


class LocalStore:
    """The replica's own entries, bounded by `max_bytes` (least recently used dropped)."""

    def __init__(self, ttl_s: float, max_bytes: int) -> None:
        self.ttl_s, self.max_bytes = ttl_s, max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[float, tuple[str, ...], Cached]] = OrderedDict()
        self._gens: dict[str, int] = {}
        self._by_tag: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def generations(self, tags: list[str]) -> list[str]:
        """The tags' generations in this replica."""
        return [str(self._gens.get(t, 0)) for t in tags]

    async def get(self, key: str) -> Cached | None:
        """The entry for `key`, if fresh."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[2]

    async def put(self, key: str, tags: list[str], gens: list[str], value: Cached) -> None:
        """Store `value` unless a tag's generation moved since `gens`."""
        if await self.generations(tags) != gens:
            return
        self._drop(key)
        self._entries[key] = (time.monotonic() + self.ttl_s, tuple(tags), value)
        self.bytes += _size(key, value)
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def invalidate(self, tag: str) -> None:
        """Move the tag's generation on and drop its entries."""
        self._gens[tag] = self._gens.get(tag, 0) + 1
        for key in self._by_tag.pop(tag, ()):
            self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.bytes -= _size(key, entry[2])
        for tag in entry[1]:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]


class RedisStore:
    """Entries in Redis (`stockray:cache:*`), shared by every replica."""

    def __init__(self, redis: Any, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._redis = redis
        self._put = redis.register_script(_PUT)
        self._invalidate = redis.register_script(_INVALIDATE)
        self.tasks: set[asyncio.Task] = set()  # invalidations in flight

    async def generations(self, tags: list[str]) -> list[str]:
        """The tags' generations in Redis."""
        values = await self._redis.mget([_PREFIX + "gen:" + t for t in tags])
        return [(v.decode() if isinstance(v, bytes) else v) or "0" for v in values]

    async def get(self, key: str) -> Cached | None:
        """The entry for `key` (Redis expires it)."""
        raw = await self._redis.get(_PREFIX + _digest(key))
        if raw is None:
            return None
        media_type, _, body = raw.partition(b"\n")
        return Cached(body, media_type.decode())

    async def put(self, key: str, tags: list[str], gens: list[str], value: Cached) -> None:
        """Store `value` (one script) unless a tag's generation moved since `gens`."""
        payload = value.media_type.encode() + b"\n" + value.body
        await self._put(
            keys=[_PREFIX + _digest(key), *(_PREFIX + "gen:" + t for t in tags)],
            args=[int(self.ttl_s * 1000), payload, *gens],
        )

    def invalidate(self, tag: str) -> None:
        """Drop the tag's entries in a task on the running loop."""
        task = asyncio.get_running_loop().create_task(self._drop(tag))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _drop(self, tag: str) -> None:
        try:
            await self._invalidate(keys=[_PREFIX + "gen:" + tag])
        except Exception as exc:  # the TTL still bounds staleness; say why it was not sooner
            log.warning("cache invalidation of %s failed: %s", tag, type(exc).__name__)


class FallbackStore:
    """Redis when it answers, else the replica's own store; events invalidate both."""

    def __init__(self, shared: RedisStore, local: LocalStore, fallback: RedisFallback) -> None:
        self.shared, self.local, self._fallback = shared, local, fallback

    async def generations(self, tags: list[str]) -> list[str]:
        """The tags' generations where entries are kept now."""
        return await self._fallback.call(
            lambda: self.shared.generations(tags), lambda: self.local.generations(tags)
        )

    async def get(self, key: str) -> Cached | None:
        """The entry for `key` where entries are kept now."""
        return await self._fallback.call(lambda: self.shared.get(key), lambda: self.local.get(key))

    async def put(self, key: str, tags: list[str], gens: list[str], value: Cached) -> None:
        """Store where entries are kept now."""
        await self._fallback.call(
            lambda: self.shared.put(key, tags, gens, value),
            lambda: self.local.put(key, tags, gens, value),
        )

    def invalidate(self, tag: str) -> None:
        """Both: the replica's store may hold entries from an outage."""
        self.local.invalidate(tag)
        self.shared.invalidate(tag)


class ReadCache:
    """Rendered hot reads by request key; `ttl_s` 0 turns caching off.

    `max_bytes` bounds the replica's own entries; a body over a quarter of it is not kept
    (in Redis either), so one huge read cannot empty the cache. The store is chosen here,
    once: with `redis`, Redis while it answers (`fallback` says when it is skipped) and the
    replica's own store meanwhile; without, the replica's own.
    """

    def __init__(
        self,
        ttl_s: float,
        max_bytes: int,
        redis: Any = None,
        fallback: RedisFallback | None = None,
    ) -> None:
        self.ttl_s, self.max_bytes = ttl_s, max_bytes
        self.local = LocalStore(ttl_s, max_bytes)
        self.shared = None if redis is None else RedisStore(redis, ttl_s)
        self.store: CacheStore = self.local
        if self.shared is not None:
            self.store = FallbackStore(self.shared, self.local, fallback or RedisFallback())
        # Reads this replica is producing now, by key: a request for the same key waits for
        # that answer instead of running the same query again (a burst after an event).
        self.pending: dict[str, asyncio.Future[Cached | None]] = {}

    @property
    def enabled(self) -> bool:
        """False when the TTL is 0."""
        return self.ttl_s > 0

    @property
    def local_bytes(self) -> int:
        """Bytes held by the replica's own store."""
        return self.local.bytes

    def __len__(self) -> int:
        return len(self.local)

    async def generations(self, tags: list[str]) -> list[str]:
        """The tags' generations now; pass them to `put` to detect a concurrent change."""
        return await self.store.generations(tags)

    async def get(self, key: str) -> Cached | None:
        """The cached body for `key`, if fresh."""
        return await self.store.get(key)

    async def put(self, key: str, tags: list[str], gens: list[str], value: Cached) -> None:
        """Store `value` unless one of `tags` changed since `gens` was read."""
        if len(value.body) > self.max_bytes // 4:
            return
        await self.store.put(key, tags, gens, value)

    def on_event(self, event: dict[str, Any]) -> None:
        """Invalidate what `event` makes stale (a `ctx.on_event` hook; never raises)."""
        for tag in tags_of(event):
            self.store.invalidate(tag)

    async def settled(self) -> None:
        """Wait for the invalidations in flight (Redis's run as tasks)."""
        if self.shared is not None:
            await asyncio.gather(*list(self.shared.tasks))


def request_key(request: Request, variant: str = "") -> str:
    """A request's cache key: its path, the query parameters its route declares (as FastAPI
    reads them: the last of a repeated one, all of a list) and `variant` (e.g. a format)."""
    route = request.scope.get("route")
    params = request.query_params
    parts = []
    for name, many in _declared_query(route) if route is not None else ():
        if name in params:
            values = params.getlist(name) if many else [params[name]]
            parts.extend(f"{name}={v}" for v in values)
    return f"{request.url.path}?{'&'.join(parts)}|{variant}"


def _declared_query(route: Any) -> tuple[tuple[str, bool], ...]:
    # (alias, is a list) of every query parameter of the route and its dependencies.
    found: dict[str, bool] = {}
    stack = [route.dependant] if hasattr(route, "dependant") else []
    while stack:
        current = stack.pop()
        for field in current.query_params:
            found[field.alias] = _is_list(field.field_info.annotation)
        stack.extend(current.dependencies)
    return tuple(sorted(found.items()))


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, set, tuple, frozenset):
        return True
    return any(_is_list(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def _size(key: str, value: Cached) -> int:
    return len(value.body) + len(key) + len(value.media_type) + ENTRY_OVERHEAD


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()

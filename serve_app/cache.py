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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

if TYPE_CHECKING:
    from serve_app.context import RedisFallback

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


class ReadCache:
    """Rendered hot reads by request key; `ttl_s` 0 turns caching off.

    `max_bytes` bounds the replica's own entries; a body over a quarter of it is not kept
    (in Redis either), so one huge read cannot empty the cache. With `redis`, `fallback`
    says when Redis is skipped for the replica's own store.
    """

    def __init__(
        self,
        ttl_s: float,
        max_bytes: int,
        redis: Any = None,
        fallback: RedisFallback | None = None,
    ) -> None:
        self.ttl_s, self.max_bytes = ttl_s, max_bytes
        self.local_bytes = 0
        self._redis, self._fallback = redis, fallback
        self._local: OrderedDict[str, tuple[float, tuple[str, ...], Cached]] = OrderedDict()
        self._gens: dict[str, int] = {}
        self._by_tag: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task] = set()
        # Reads this replica is producing now, by key: a request for the same key waits for
        # that answer instead of running the same query again (a burst after an event).
        self.pending: dict[str, asyncio.Future[Cached | None]] = {}
        if redis is not None:
            self._put = redis.register_script(_PUT)
            self._invalidate = redis.register_script(_INVALIDATE)

    @property
    def enabled(self) -> bool:
        """False when the TTL is 0."""
        return self.ttl_s > 0

    def __len__(self) -> int:
        return len(self._local)

    async def generations(self, tags: list[str]) -> list[str]:
        """The tags' generations now; pass them to `put` to detect a concurrent change."""
        return await self._either(
            lambda: self._shared_generations(tags), lambda: self._local_generations(tags)
        )

    async def get(self, key: str) -> Cached | None:
        """The cached body for `key`, if fresh."""
        return await self._either(lambda: self._shared_get(key), lambda: self._local_get(key))

    async def put(self, key: str, tags: list[str], gens: list[str], value: Cached) -> None:
        """Store `value` unless one of `tags` changed since `gens` was read."""
        if len(value.body) > self.max_bytes // 4:
            return
        await self._either(
            lambda: self._shared_put(key, tags, gens, value),
            lambda: self._local_put(key, tags, gens, value),
        )

    def on_event(self, event: dict[str, Any]) -> None:
        """Invalidate what `event` makes stale (a `ctx.on_event` hook; never raises)."""
        for tag in tags_of(event):
            self._gens[tag] = self._gens.get(tag, 0) + 1
            for key in self._by_tag.pop(tag, ()):
                self._drop_local(key)
            if self._redis is not None:
                task = asyncio.get_running_loop().create_task(self._drop(tag))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _either(
        self, shared: Callable[[], Awaitable[Any]], local: Callable[[], Awaitable[Any]]
    ) -> Any:
        # Redis when configured and answering, else this replica's store.
        if self._redis is None or self._fallback is None:
            return await local()
        return await self._fallback.call(shared, local)

    async def _shared_generations(self, tags: list[str]) -> list[str]:
        values = await self._redis.mget([_PREFIX + "gen:" + t for t in tags])
        return [(v.decode() if isinstance(v, bytes) else v) or "0" for v in values]

    async def _local_generations(self, tags: list[str]) -> list[str]:
        return [str(self._gens.get(t, 0)) for t in tags]

    async def _shared_get(self, key: str) -> Cached | None:
        raw = await self._redis.get(_PREFIX + _digest(key))
        if raw is None:
            return None
        media_type, _, body = raw.partition(b"\n")
        return Cached(body, media_type.decode())

    async def _local_get(self, key: str) -> Cached | None:
        entry = self._local.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._drop_local(key)
            return None
        self._local.move_to_end(key)
        return entry[2]

    async def _shared_put(self, key: str, tags: list[str], gens: list[str], value: Cached) -> None:
        payload = value.media_type.encode() + b"\n" + value.body
        await self._put(
            keys=[_PREFIX + _digest(key), *(_PREFIX + "gen:" + t for t in tags)],
            args=[int(self.ttl_s * 1000), payload, *gens],
        )

    async def _local_put(self, key: str, tags: list[str], gens: list[str], value: Cached) -> None:
        if await self._local_generations(tags) != gens:
            return
        self._drop_local(key)
        self._local[key] = (time.monotonic() + self.ttl_s, tuple(tags), value)
        self.local_bytes += _size(key, value)
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while self.local_bytes > self.max_bytes:
            self._drop_local(next(iter(self._local)))

    def _drop_local(self, key: str) -> None:
        entry = self._local.pop(key, None)
        if entry is None:
            return
        self.local_bytes -= _size(key, entry[2])
        for tag in entry[1]:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]

    async def _drop(self, tag: str) -> None:
        try:
            await self._invalidate(keys=[_PREFIX + "gen:" + tag])
        except Exception as exc:  # the TTL still bounds staleness; say why it was not sooner
            log.warning("cache invalidation of %s failed: %s", tag, type(exc).__name__)


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

"""First-seen checks for article fingerprints, so known articles skip the work of a write.

Only an optimisation: the database's unique key stays the truth, so a lost or expired
claim costs a redundant write, never a duplicate row. A caller whose write fails calls
`forget` to release its claims, or the retry would skip the articles as already seen.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

DEFAULT_TTL_S = 7 * 24 * 3600  # news is re-served by providers for days, rarely for weeks


class Dedupe(Protocol):
    """A first-seen check with expiry."""

    async def first_seen(self, fingerprints: Sequence[str]) -> list[bool]:
        """True for each fingerprint not claimed within the TTL; claims it."""
        ...

    async def forget(self, fingerprints: Sequence[str]) -> None:
        """Release claims (after a failed write) so a retry sees them as new."""
        ...


def _first_only(fingerprints: Sequence[str], claimed: set[str]) -> list[bool]:
    """Map claims back to the input order; a repeat within the call is never first."""
    out, seen = [], set()
    for fp in fingerprints:
        out.append(fp in claimed and fp not in seen)
        seen.add(fp)
    return out


class RedisDedupe:
    """Claims are Redis keys set with `SET key 1 NX PX ttl`, one pipeline per call."""

    def __init__(self, client: Any, ttl_s: float, prefix: str = "stockray:dedupe:") -> None:
        self._client = client  # redis.asyncio.Redis
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._prefix = prefix

    async def first_seen(self, fingerprints: Sequence[str]) -> list[bool]:
        """True for each fingerprint no one claimed within the TTL; claims it."""
        unique = list(dict.fromkeys(fingerprints))
        if not unique:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for fp in unique:
                pipe.set(self._prefix + fp, 1, nx=True, px=self._ttl_ms)
            results = await pipe.execute()
        claimed = {fp for fp, ok in zip(unique, results, strict=True) if ok}
        return _first_only(fingerprints, claimed)

    async def forget(self, fingerprints: Sequence[str]) -> None:
        """Delete the claims."""
        if fingerprints:
            await self._client.delete(*(self._prefix + fp for fp in set(fingerprints)))


class MemoryDedupe:
    """Claims in a dict with expiry, for one process (the dedupe actor holds one).

    Beyond `max_entries` the oldest claims are dropped early: memory stays bounded and the
    cost is a redundant write.
    """

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        # Insertion order is expiry order: the TTL is fixed and a re-claim moves to the end.
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    async def first_seen(self, fingerprints: Sequence[str]) -> list[bool]:
        """True for each fingerprint not claimed within the TTL; claims it."""
        now = self._clock()
        self._purge(now)
        claimed = set()
        for fp in fingerprints:
            if fp not in self._expiry:
                self._expiry[fp] = now + self._ttl_s
                claimed.add(fp)
        while len(self._expiry) > self._max:
            self._expiry.popitem(last=False)
        return _first_only(fingerprints, claimed)

    async def forget(self, fingerprints: Sequence[str]) -> None:
        """Drop the claims."""
        for fp in fingerprints:
            self._expiry.pop(fp, None)

    def _purge(self, now: float) -> None:
        while self._expiry:
            fp, expires = next(iter(self._expiry.items()))
            if expires > now:
                return
            del self._expiry[fp]

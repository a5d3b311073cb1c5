"""A clock whose time moves only when a test drives it: limiters' tests never sleep."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
MAX_SETTLE_TURNS = 100_000
"""Before time moves on, every task that can run does, until all wait (on a timer or on each
other): the order of events then never depends on the machine's load."""


@dataclass(order=True)
class _Timer:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    live: bool = field(default=True, compare=False)


class FakeClock:
    """Implements `core.resilience.clock.Clock`; `run` and `advance` move its time."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[_Timer] = []
        self._seq = itertools.count()

    def now(self) -> float:
        """The fake monotonic time."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock is driven `seconds` on."""
        woken = asyncio.get_running_loop().create_future()
        timer = self._at(self._now + max(seconds, 0.0), lambda: woken.set_result(None))
        try:
            await woken
        finally:
            timer.live = False  # a cancelled sleep moves no time

    @asynccontextmanager
    async def timeout(self, seconds: float | None) -> AsyncIterator[object]:
        """Raise `TimeoutError` in the body once the clock passes `seconds` from now."""
        async with asyncio.timeout(None) as window:
            if seconds is None:
                yield window
                return
            now = asyncio.get_running_loop().time
            timer = self._at(self._now + max(seconds, 0.0), lambda: window.reschedule(now()))
            try:
                yield window
            finally:
                timer.live = False

    async def run(self, work: Awaitable[T]) -> T:
        """Await `work`, moving time to the next timer whenever every task waits on one."""
        task = asyncio.ensure_future(work)
        while True:
            await self._settle()
            self._drop_dead()
            if task.done() or not self._timers:
                return await task  # not done and no timer: it waits on something real
            self._fire_next()

    async def advance(self, seconds: float) -> None:
        """Move time `seconds` on, firing each timer due on the way, in order."""
        until = self._now + seconds
        await self._settle()
        self._drop_dead()
        while self._timers and self._timers[0].when <= until:
            self._fire_next()
            await self._settle()
            self._drop_dead()
        self._now = until

    def _at(self, when: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(when, next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def _drop_dead(self) -> None:
        while self._timers and not self._timers[0].live:
            heapq.heappop(self._timers)

    def _fire_next(self) -> None:
        timer = heapq.heappop(self._timers)
        timer.live = False
        self._now = max(self._now, timer.when)
        timer.callback()

    @staticmethod
    async def _settle() -> None:
        # The loop's queue of ready callbacks (CPython's asyncio) empty: nothing can run.
        ready = getattr(asyncio.get_running_loop(), "_ready", None)
        for _ in range(MAX_SETTLE_TURNS):
            await asyncio.sleep(0)
            if ready is not None and not ready:
                return

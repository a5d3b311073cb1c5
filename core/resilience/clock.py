"""The clock a limiter reads and sleeps on: real by default, injectable for tests.

A limiter asks its clock for monotonic seconds (`now`), to sleep (`sleep`) and to bound a wait
(`timeout`); nothing else in it reads time. Tests pass a fake clock whose time moves only when
they say so, so they neither sleep nor depend on how loaded the machine is.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class Clock(Protocol):
    """Monotonic time, sleep and timeouts, all on one time line."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds` of this clock's time."""
        ...

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        """A context raising `TimeoutError` if its body lasts over `seconds` (None: never)."""
        ...


class MonotonicClock:
    """The real clock: `time.monotonic`, `asyncio.sleep`, `asyncio.timeout`."""

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(seconds)

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        """`asyncio.timeout(seconds)`."""
        return asyncio.timeout(seconds)


REAL_CLOCK = MonotonicClock()
"""The default clock of every limiter."""

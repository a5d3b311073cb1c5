"""Multi-window rate limiting: the interface and the in-process sliding-log limiter.

Guarantee: for every window `requests/per_s`, any interval of `per_s + margin_s` seconds
holds at most `requests` admissions. A sliding log is the only scheme that gives this and
still admits a full `requests` burst: GCRA/token buckets with burst `requests` let up to
2x through one sliding window, and a provider counting by sliding log would answer 429.
A schedule that satisfies a sliding log also satisfies a fixed-window counter and a token
bucket of the same limit, so it is safe against whichever one the provider runs.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from core.resilience.clock import REAL_CLOCK, Clock
from core.resilience.errors import Throttled

DEFAULT_MARGIN_S = 0.05
"""Extra seconds added to every window, to absorb latency jitter between us and the provider:
requests admitted `per_s` apart may arrive closer. Measured against the sim's Yahoo (5/s,
150 requests at the limit, load 5-10): 20 ms drew 1-4 429s (each pausing the provider 1 s),
50 ms none, in the same time (the margin costs 5% of a 1 s window's rate). A loaded machine
jitters more: the margin then adapts (`AdaptiveMargin`)."""
PACE_FRACTION = 0.9
"""Pacing gap as a share of the even spacing: wake-up and round-trip delays then do not eat
into the rate, while the sliding log (not the pacing) stays the hard limit."""
MARGIN_STEP_S, MARGIN_MAX_EXTRA_S = 0.05, 0.25
"""A provider's 429 despite the margin widens it by a step (up to the extra maximum): its
clock saw our admissions closer together than we made them (a loaded machine's jitter)."""
MARGIN_CALM_ADMISSIONS, MARGIN_SHRINK_S = 100, 0.01
"""…and every this many admissions without one it narrows back by this much."""
PACE_MAX_WINDOW_S = 60.0
"""Only a window this short is paced: bursts matter within seconds, while spreading a daily
quota evenly (NewsAPI's 100 a day: one call every 13 minutes) would starve a planned cycle."""


class RateLimitLike(Protocol):
    """Anything with `requests` and `per_s`, such as `configs.sections.RateLimit`."""

    @property
    def requests(self) -> int: ...

    @property
    def per_s(self) -> float: ...


class RateLimiter(Protocol):
    """What a provider actor needs from a limiter, in-process or shared through Redis."""

    async def acquire(self, max_wait_s: float | None = None) -> float:
        """Wait until every window admits one call; return the seconds waited."""
        ...

    async def try_acquire(self) -> float:
        """Admit one call now (0.0) or return the seconds until one would be admitted."""
        ...

    async def penalize(self, retry_after_s: float) -> None:
        """Admit nothing for `retry_after_s` seconds (a provider's `Retry-After`)."""
        ...

    async def budget(self) -> dict[str, float]:
        """Admissions left per window right now, by label, plus `paused_s`."""
        ...


@dataclass(frozen=True, slots=True)
class Window:
    """At most `requests` admissions in any `per_s` seconds."""

    requests: int
    per_s: float

    @property
    def label(self) -> str:
        """A short name for health reports, like `5/1s`."""
        return f"{self.requests}/{self.per_s:g}s"


def pace_gap_s(windows: Iterable[Window]) -> float:
    """The pacing gap between admissions: the shortest window's even spacing (times
    `PACE_FRACTION`) if it is at most `PACE_MAX_WINDOW_S` long, else 0 (no pacing)."""
    shortest = min(windows, key=lambda w: w.per_s, default=None)
    if shortest is None or shortest.per_s > PACE_MAX_WINDOW_S:
        return 0.0
    return PACE_FRACTION * shortest.per_s / shortest.requests


@dataclass(slots=True)
class AdaptiveMargin:
    """The seconds added to every window: `base_s`, plus what the provider's 429s taught."""

    base_s: float
    extra_s: float = 0.0
    calm: int = 0

    @property
    def value_s(self) -> float:
        """The margin now."""
        return self.base_s + self.extra_s

    def widen(self) -> None:
        """The provider refused a call we admitted: allow for more jitter."""
        self.extra_s = min(MARGIN_MAX_EXTRA_S, self.extra_s + MARGIN_STEP_S)
        self.calm = 0

    def admitted(self) -> bool:
        """Count an admission; True when the margin narrowed."""
        self.calm += 1
        if self.extra_s <= 0 or self.calm < MARGIN_CALM_ADMISSIONS:
            return False
        self.extra_s, self.calm = max(0.0, self.extra_s - MARGIN_SHRINK_S), 0
        return True


def to_windows(limits: Iterable[RateLimitLike], margin_s: float) -> list[Window]:
    """Validated copies of `limits`; raises ValueError on a non-positive limit or margin."""
    if not (margin_s >= 0 and math.isfinite(margin_s)):
        raise ValueError(f"margin_s must be a finite number >= 0, got {margin_s!r}")
    windows = [Window(int(lim.requests), float(lim.per_s)) for lim in limits]
    for w in windows:
        if w.requests < 1 or not (w.per_s > 0 and math.isfinite(w.per_s)):
            raise ValueError(f"a rate limit needs requests >= 1 and per_s > 0, got {w}")
    return windows


async def acquire_in_turn(
    limiter: RateLimiter,
    provider: str,
    clock: Clock,
    turn: asyncio.Lock,
    max_wait_s: float | None,
    queued_hint: Callable[[], Awaitable[float]],
) -> float:
    """`acquire` of either limiter: wait for `turn` (the head of this process's queue), then
    `try_acquire` until admitted, sleeping what it says; return the seconds waited.

    One head-of-line waiter sleeps while the rest queue on the lock, so admissions are
    stamped with the time they really happen, not the time a sleep was planned for. With
    `max_wait_s`, raise `Throttled` instead of waiting longer: while queued, with the wait
    `queued_hint` gives; at the head, with the wait `try_acquire` gave.
    """
    start = clock.now()
    give_up_at = math.inf if max_wait_s is None else start + max_wait_s
    try:
        async with clock.timeout(max_wait_s):
            await turn.acquire()
    except TimeoutError:
        raise Throttled(provider, await queued_hint()) from None
    try:
        while True:
            wait = await limiter.try_acquire()
            now = clock.now()
            if wait <= 0.0:
                return now - start
            if now + wait > give_up_at:
                raise Throttled(provider, wait)
            await clock.sleep(wait)
    finally:
        turn.release()


@dataclass(slots=True)
class _Log:
    window: Window
    span_s: float  # per_s + margin_s
    # Admission times, oldest first; only the newest `requests` can ever block a new one.
    times: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self.times = deque(maxlen=self.window.requests)

    def free_at(self) -> float:
        """Monotonic time from which this window admits one more call."""
        if len(self.times) < self.window.requests:
            return -math.inf
        return self.times[0] + self.span_s

    def used(self, now: float) -> int:
        """Admissions within the span ending now."""
        return len(self.times) - bisect.bisect_right(self.times, now - self.span_s)


class LocalRateLimiter:
    """A sliding-log limiter for one process; callers are admitted first come, first served.
    Time is `clock`'s (real by default; tests pass a fake one)."""

    def __init__(
        self,
        provider: str,
        limits: Iterable[RateLimitLike],
        margin_s: float = DEFAULT_MARGIN_S,
        pace: bool = True,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.provider = provider
        self.margin_s = margin_s
        self.margin = AdaptiveMargin(margin_s)
        self._clock = clock
        windows = to_windows(limits, margin_s)
        self._logs = [_Log(w, w.per_s + margin_s) for w in windows]
        gap = pace_gap_s(windows) if pace else 0.0
        if gap:
            # Spread the shortest window's budget evenly instead of admitting it as one burst:
            # a burst leaves through a bounded connection pool and reaches the provider
            # unevenly, and uneven arrivals are what a provider's own sliding log answers 429.
            # Same long-run rate; no margin here (the windows above carry it).
            self._logs.append(_Log(Window(1, gap), gap))
        self._labelled = len(windows)
        self._paused_until = -math.inf
        self._turn = asyncio.Lock()  # see `acquire_in_turn`

    async def acquire(self, max_wait_s: float | None = None) -> float:
        """Wait until every window admits one call; return the seconds waited.

        With `max_wait_s`, raise `Throttled` instead of waiting longer than that.
        """
        start = self._clock.now()
        if max_wait_s is not None and self._free_at() > start + max_wait_s:
            # e.g. a spent daily window: refuse without queueing
            raise Throttled(self.provider, self._free_at() - start)
        return await acquire_in_turn(
            self, self.provider, self._clock, self._turn, max_wait_s, self._queued_hint
        )

    async def _queued_hint(self) -> float:
        return max(self._free_at() - self._clock.now(), 0.0)

    async def try_acquire(self) -> float:
        """Admit one call now if every window allows it (return 0.0), else return the
        seconds until one would be admitted, without waiting or queueing."""
        now = self._clock.now()
        free_at = self._free_at()
        if free_at > now:
            return free_at - now
        self._admit(now)
        return 0.0

    def _admit(self, now: float) -> None:
        for log in self._logs:
            log.times.append(now)
        if self.margin.admitted():
            self._respan()

    def _respan(self) -> None:
        for log in self._logs[: self._labelled]:
            log.span_s = log.window.per_s + self.margin.value_s

    async def penalize(self, retry_after_s: float) -> None:
        """Admit nothing for `retry_after_s` seconds (a shorter penalty never shortens a
        pause), and widen the margin: the provider refused a call our windows admitted."""
        until = self._clock.now() + max(retry_after_s, 0.0)
        self._paused_until = max(self._paused_until, until)
        self.margin.widen()
        self._respan()

    async def budget(self) -> dict[str, float]:
        """Admissions left per window right now, by label, plus `paused_s`."""
        now = self._clock.now()
        left: dict[str, float] = {
            log.window.label: log.window.requests - log.used(now)
            for log in self._logs[: self._labelled]
        }
        left["paused_s"] = max(self._paused_until - now, 0.0)
        return left

    def _free_at(self) -> float:
        return max([self._paused_until, *(log.free_at() for log in self._logs)])

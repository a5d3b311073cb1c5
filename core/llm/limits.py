"""Token-rate limits for LLM endpoints (TPM), beside the request limiter of core.resilience.

Requests per minute go through the project's one window limiter (`LocalRateLimiter`, see
`core.llm.endpoint`); it counts admissions, while a TPM window weighs each call by its
tokens, so it keeps its own log here, on the same injectable clock.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Mapping, Sequence

from core.resilience import REAL_CLOCK, Clock

Messages = Sequence[Mapping[str, str]]


class TokenWindow:
    """At most `per_minute` tokens in any 60 s (an endpoint's TPM), callers first come first
    served. A call's weight is an estimate (prompt bytes / 3 + max_tokens), as providers
    count `max_tokens` against TPM before the answer exists. Time is `clock`'s."""

    SPAN_S = 60.0

    def __init__(self, per_minute: int, clock: Clock = REAL_CLOCK) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._log: deque[tuple[float, int]] = deque()
        self._turn = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        """Wait until `tokens` fit in the window (alone, they always fit)."""
        async with self._turn:
            while True:
                now = self._clock.now()
                while self._log and self._log[0][0] <= now - self.SPAN_S:
                    self._log.popleft()
                used = sum(n for _, n in self._log)
                if not self._log or used + tokens <= self.per_minute:
                    self._log.append((now, tokens))
                    return
                await self._clock.sleep(self._log[0][0] + self.SPAN_S - now)


def token_estimate(messages: Messages, max_tokens: int) -> int:
    """A realistic (not worst-case) token count for TPM: about 3 UTF-8 bytes per token."""
    body = sum(len(str(m.get("content", "")).encode()) for m in messages)
    return math.ceil(body / 3) + 4 * len(messages) + max_tokens

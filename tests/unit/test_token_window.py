"""The LLM endpoint's tokens-per-minute window, on a shortened span and a fake clock."""

from __future__ import annotations

import asyncio

from core.llm.gateway import TokenWindow, token_estimate
from tests.unit.resilience.fake_clock import FakeClock


class FastWindow(TokenWindow):
    SPAN_S = 0.3


async def test_tokens_in_any_span_never_exceed_the_limit() -> None:
    clock = FakeClock()
    window = FastWindow(per_minute=300, clock=clock)
    admitted: list[tuple[float, int]] = []

    async def caller(tokens: int) -> None:
        await window.acquire(tokens)
        admitted.append((clock.now(), tokens))

    await clock.run(asyncio.gather(*(caller(100) for _ in range(9))))
    assert len(admitted) == 9
    for start, _ in admitted:
        inside = sum(n for t, n in admitted if start <= t < start + FastWindow.SPAN_S - 0.01)
        assert inside <= 300
    assert admitted[-1][0] - admitted[0][0] >= 2 * FastWindow.SPAN_S * 0.9  # it waited


async def test_a_call_larger_than_the_limit_still_runs_alone() -> None:
    window = FastWindow(per_minute=50, clock=FakeClock())
    await asyncio.wait_for(window.acquire(500), timeout=1)


def test_estimate_counts_max_tokens_and_bytes() -> None:
    messages = [{"role": "user", "content": "x" * 300}]
    assert token_estimate(messages, 100) == 100 + 4 + 100

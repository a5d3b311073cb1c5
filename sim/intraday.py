"""Deterministic intraday bars: a bridged random walk between each day's open and close.

Bars of each interval are drawn on their own (not aggregated from 1-minute bars), so a 1-hour
request over two years stays cheap; every path is squeezed into the day's high/low so intraday
bars never contradict the daily bar.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from sim import rng
from sim.prices import PriceModel, round_price
from sim.universe import SimInstrument

_MISSING_BELOW = int(0.008 * 65536)  # share of intraday bars Yahoo shows as all-null


class IntradayBar(NamedTuple):
    """One intraday bar, split-adjusted; `ts` is the bar's start in unix seconds."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    missing: bool


def intraday_bars(
    model: PriceModel, inst: SimInstrument, first: int, last: int, minutes: int
) -> list[IntradayBar]:
    """All bars of `minutes` length for the sessions among days `first`..`last` (numbers)."""
    out: list[IntradayBar] = []
    sessions = inst.sessions
    for day in model.daily(inst, first, last):
        if not sessions.is_session(day.number):
            continue
        start, end = sessions.hours(day.number)
        length = (end - start) // 60  # early closes are shorter
        count = math.ceil(length / minutes)
        sigma = inst.daily_vol * math.sqrt(minutes / 390)
        o, h, lo, c, v = day.adjusted()
        k = rng.key(model.seed, "intraday", inst.id, day.number, minutes)
        path = _bridge(k, count, sigma, o, c, h, lo)
        weights = [1.0 + 1.5 * (2.0 * i / max(count - 1, 1) - 1.0) ** 2 for i in range(count)]
        total = sum(weights)

        def price(p: float, f: float = day.factor) -> float:
            return round_price(p * f, inst.currency) / f

        for i in range(count):
            g = rng.at(k ^ 0x5A5A, i)
            bo, bc = path[i], path[i + 1]
            bh = min(h, max(bo, bc) * (1.0 + 0.3 * sigma * ((g & 0xFFFF) / 65536.0)))
            bl = max(lo, min(bo, bc) * (1.0 - 0.3 * sigma * (((g >> 16) & 0xFFFF) / 65536.0)))
            vol = v * weights[i] / total * (0.6 + 0.8 * ((g >> 32) & 0xFFFF) / 65536.0)
            out.append(
                IntradayBar(
                    start + i * minutes * 60,
                    price(bo),
                    price(bh),
                    price(bl),
                    price(bc),
                    round(vol),
                    ((g >> 48) & 0xFFFF) < _MISSING_BELOW,
                )
            )
    return out


def _bridge(
    k: int, count: int, sigma: float, o: float, c: float, h: float, lo: float
) -> list[float]:
    """`count + 1` prices from `o` to `c`, staying within [lo, h]."""
    steps = [sigma * rng.normal(rng.at(k, i)) for i in range(count)]
    target = math.log(c / o)
    drift = (sum(steps) - target) / count
    walk, x = [0.0], 0.0
    for step in steps:
        x += step - drift
        walk.append(x)
    # Deviations from the straight line open->close are scaled down until inside [lo, h].
    line = [target * i / count for i in range(count + 1)]
    scale = 1.0
    up, down = math.log(h / o), math.log(lo / o)
    for x, base in zip(walk, line, strict=True):
        dev = x - base
        if dev > 0 and base + dev > up:
            scale = min(scale, max(0.0, (up - base) / dev))
        elif dev < 0 and base + dev < down:
            scale = min(scale, max(0.0, (down - base) / dev))
    return [o * math.exp(base + scale * (x - base)) for x, base in zip(walk, line, strict=True)]

"""Deterministic daily prices, splits and dividends.

The close follows a geometric random walk whose shocks are hashes of (seed, symbol, day), so
any window is generated without generating all history: cumulative shocks are cached per
64-day block. The walk is in today's share units (split-adjusted, as Yahoo shows OHLC); the
as-traded ("raw") price is the walk times the splits still to come, rounded to the tick,
which is what Alpha Vantage's unadjusted series shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from sim import rng
from sim.calendar import day_number, day_of
from sim.universe import REFERENCE_DAY, SimInstrument

_BLOCK = 64
_TAIL_NORM = 1.0 / math.sqrt(0.961 + 0.039 * 6.25)  # keeps unit variance with 4% 2.5x shocks
_MISSING_BELOW = int(0.004 * 65536)  # share of days Yahoo shows as all-null quotes
_U16 = 1.0 / 65536.0
_TRI = 2.449 * _U16  # (a - b) of two 16-bit uniforms, scaled to unit variance


class DailyBar(NamedTuple):
    """One trading day as traded (raw); `factor` = splits after the day (adjusted = raw/factor)."""

    number: int
    day: date
    open: float
    high: float
    low: float
    close: float
    volume: int
    factor: float
    missing: bool

    def adjusted(self) -> tuple[float, float, float, float, int]:
        """Split-adjusted (open, high, low, close, volume), as Yahoo's chart shows them."""
        f = self.factor
        if f == 1.0:
            return self.open, self.high, self.low, self.close, self.volume
        return (self.open / f, self.high / f, self.low / f, self.close / f, round(self.volume * f))


@dataclass(frozen=True, slots=True)
class Dividend:
    """A cash dividend going ex on `day`: `raw_amount` as paid, `amount` split-adjusted."""

    number: int
    day: date
    amount: float
    raw_amount: float
    adj_factor: float  # 1 - amount / previous close: what adjusted closes before it multiply by


def round_price(value: float, currency: str) -> float:
    """Round an as-traded price to its market's tick (KRX tick table; cents elsewhere)."""
    if currency != "KRW":
        return math.floor(value * 100 + 0.5) / 100
    for limit, tick in (
        (2_000, 1),
        (5_000, 5),
        (20_000, 10),
        (50_000, 50),
        (200_000, 100),
        (500_000, 500),
    ):
        if value < limit:
            return float(max(tick, round(value / tick) * tick))
    return float(round(value / 1_000) * 1_000)


class PriceModel:
    """Daily bars, splits and dividends for every instrument of one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._keys: dict[str, int] = {}
        self._prefix: dict[str, list[float]] = {}
        self._dividends: dict[tuple[str, int], list[Dividend]] = {}
        self._split_days: dict[str, list[tuple[int, float]]] = {}
        self._anchors: dict[str, float] = {}

    def _key(self, inst: SimInstrument) -> int:
        k = self._keys.get(inst.id)
        if k is None:
            k = self._keys[inst.id] = rng.key(self.seed, "price", inst.id)
        return k

    def _shock(self, k: int, n: int) -> float:
        h = rng.at(k, n)
        z = rng.normal(h)
        if (h & 0xFF) < 10:  # occasional large move: fatter tails than a normal walk
            z *= 2.5
        return z * _TAIL_NORM

    def _walk(self, inst: SimInstrument, n: int) -> float:
        """Sum of shocks 0..n (0.0 for n < 0)."""
        if n < 0:
            return 0.0
        k = self._key(inst)
        prefix = self._prefix.setdefault(inst.id, [0.0])
        block = n // _BLOCK
        shock = self._shock
        while len(prefix) <= block:
            start = (len(prefix) - 1) * _BLOCK
            prefix.append(prefix[-1] + sum([shock(k, i) for i in range(start, start + _BLOCK)]))
        return prefix[block] + sum([shock(k, i) for i in range(block * _BLOCK, n + 1)])

    def _log_level(self, inst: SimInstrument, n: int, walk: float) -> float:
        anchor = self._anchors.get(inst.id)
        if anchor is None:  # log level minus the walk, so that the path hits base_price on REF
            ref = day_number(REFERENCE_DAY)
            anchor = math.log(inst.base_price) - inst.daily_vol * self._walk(inst, ref)
            anchor -= inst.annual_drift / 261.0 * ref
            self._anchors[inst.id] = anchor
        return anchor + inst.annual_drift / 261.0 * n + inst.daily_vol * walk

    def forget(self, inst_id: str) -> None:
        """Drop what is cached about `inst_id` (its parameters or splits changed)."""
        self._anchors.pop(inst_id, None)
        self._split_days.pop(inst_id, None)
        for key in [k for k in self._dividends if k[0] == inst_id]:
            del self._dividends[key]

    def split_days(self, inst: SimInstrument) -> list[tuple[int, float]]:
        """(trading day number, ratio) of each split, oldest first (on sessions)."""
        days = self._split_days.get(inst.id)
        if days is None:
            sessions = inst.sessions
            days = sorted((sessions.next_session(day_number(s.day)), s.ratio) for s in inst.splits)
            self._split_days[inst.id] = days
        return days

    def split_factor(self, inst: SimInstrument, n: int) -> float:
        """Product of the ratios of splits effective after trading day `n`."""
        factor = 1.0
        for number, ratio in self.split_days(inst):
            if number > n:
                factor *= ratio
        return factor

    def raw_close(self, inst: SimInstrument, n: int) -> float:
        """The as-traded close of trading day `n`."""
        level = math.exp(self._log_level(inst, n, self._walk(inst, n)))
        return round_price(level * self.split_factor(inst, n), inst.currency)

    def daily(self, inst: SimInstrument, first: int, last: int) -> list[DailyBar]:
        """Bars for trading days `first`..`last` (numbers; clipped at day 0)."""
        first = max(first, 0)
        if last < first:
            return []
        k, vol, cur = self._key(inst), inst.daily_vol, inst.currency
        walk = self._walk(inst, first - 1)
        base_log = self._log_level(inst, first - 1, walk)
        drift = inst.annual_drift / 261.0
        prev_close = math.exp(base_log)
        splits = [(n, r) for n, r in self.split_days(inst) if n >= first]
        factor = self.split_factor(inst, first - 1)
        at, mix, normal, exp, floor = rng.at, rng.mix64, rng.normal, math.exp, math.floor
        krw = cur == "KRW"
        bars = []
        for n in range(first, last + 1):
            while splits and splits[0][0] <= n:  # a split takes effect: raw prices drop
                factor /= splits.pop(0)[1]
            h = at(k, n)
            z = normal(h)
            if (h & 0xFF) < 10:  # same shock as _shock(), inlined: this loop is the hot path
                z *= 2.5
            base_log += drift + vol * z * _TAIL_NORM
            close = exp(base_log)
            # The day's other draws come from 16-bit slices of one more hash.
            g = mix(h)
            gap = ((g & 0xFFFF) - ((g >> 16) & 0xFFFF)) * _TRI
            open_ = prev_close * exp(0.3 * vol * gap)
            high = max(open_, close) * (1.0 + 0.6 * vol * ((g >> 32) & 0xFFFF) * _U16)
            low = min(open_, close) * (1.0 - 0.6 * vol * ((g >> 48) & 0xFFFF) * _U16)
            g2 = mix(g)
            noise = ((g2 & 0xFFFF) - ((g2 >> 16) & 0xFFFF)) * _TRI
            volume = inst.base_volume * exp(0.35 * noise)
            volume *= 1.0 + 10.0 * abs(close / prev_close - 1.0)
            f = factor
            if krw:
                o, hi = round_price(open_ * f, cur), round_price(high * f, cur)
                lo, c = round_price(low * f, cur), round_price(close * f, cur)
            else:  # cents; floor(x + 0.5) / 100 is round(x, 2) at a third of the cost
                o, hi = floor(open_ * f * 100 + 0.5) / 100, floor(high * f * 100 + 0.5) / 100
                lo, c = floor(low * f * 100 + 0.5) / 100, floor(close * f * 100 + 0.5) / 100
            missing = ((g2 >> 32) & 0xFFFF) < _MISSING_BELOW
            bars.append(DailyBar(n, day_of(n), o, hi, lo, c, max(1, round(volume / f)), f, missing))
            prev_close = close
        return bars

    def dividends(self, inst: SimInstrument, last: int) -> list[Dividend]:
        """Every dividend going ex on or before trading day `last`, oldest first."""
        policy = inst.dividend
        if policy is None or last < 0:
            return []
        cached = self._dividends.get((inst.id, last))
        if cached is not None:
            return cached
        out: list[Dividend] = []
        sessions = inst.sessions
        for year in range(policy.start.year, day_of(last).year + 1):
            # One amount per year in today's share units, re-expressed per ex-date as paid.
            start = day_number(date(year, 1, 2))
            yearly = self.raw_close(inst, start) / self.split_factor(inst, start)
            yearly *= policy.annual_yield / 4
            for month in policy.months:
                r = rng.key(self.seed, "dividend", inst.id, year, month)
                n = sessions.next_session(day_number(date(year, month, 8 + r % 14)))
                prev = sessions.prev_session(n - 1)
                if day_of(n) < policy.start or n > last or prev < 0:
                    continue
                f = self.split_factor(inst, n)
                raw_amount = (
                    max(1.0, float(round(yearly * f)))
                    if inst.currency == "KRW"
                    else max(0.01, round(yearly * f, 2))
                )
                prev_close = self.raw_close(inst, prev) / self.split_factor(inst, prev)
                amount = raw_amount / f
                out.append(Dividend(n, day_of(n), amount, raw_amount, 1.0 - amount / prev_close))
        if len(self._dividends) > 4096:
            self._dividends.clear()
        self._dividends[(inst.id, last)] = out
        return out

    def adjclose_multipliers(
        self, inst: SimInstrument, bars: list[DailyBar], asof: int
    ) -> list[float]:
        """Per bar, the product of dividend factors after it up to `asof` (Yahoo's adjclose)."""
        divs = self.dividends(inst, asof)
        suffix = [1.0] * (len(divs) + 1)
        for i in range(len(divs) - 1, -1, -1):
            suffix[i] = suffix[i + 1] * divs[i].adj_factor
        out, j = [], 0
        for bar in bars:
            while j < len(divs) and divs[j].number <= bar.number:
                j += 1
            out.append(suffix[j])
        return out

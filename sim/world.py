"""The simulated world one seed describes: instruments, prices, news and disclosures."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sim.calendar import FIRST_DAY, day_number, day_of
from sim.filings import FilingModel
from sim.news import NewsModel
from sim.prices import PriceModel
from sim.universe import SimInstrument, Split, Universe


class SimWorld:
    """Every generator of one seed, plus the clock that decides which data exists yet."""

    def __init__(self, seed: int, universe: Universe, clock: Callable[[], float] = time.time):
        self.seed = seed
        self.universe = universe
        self.prices = PriceModel(seed)
        self.news = NewsModel(seed, universe)
        self.filings = FilingModel(seed)
        self.clock = clock
        self.version = 0  # bumped whenever instruments change (caches key on it)
        self._seeded: dict[str, SimInstrument] = {}  # instruments before injected splits
        self._injected: list[tuple[str, Split]] = []

    @classmethod
    def build(
        cls, seed: int, watchlist_path: str | Path | None = None, extra_symbols: int = 0
    ) -> SimWorld:
        """The world of `seed` over the watchlist plus `extra_symbols` synthetic symbols."""
        return cls(seed, Universe.build(seed, watchlist_path, extra_symbols))

    def load_sessions(self) -> None:
        """Build the exchange calendar of every instrument now (it takes a few seconds)."""
        for inst in self.universe.instruments:
            _ = inst.sessions

    def add_split(self, instrument: str, day: date, numerator: float, denominator: float) -> Split:
        """Split `instrument` (id or any symbol) on `day`'s session or the next one.

        Prices as traded before the split stay as they were and drop by the ratio from its
        session on: the walk is in today's share units and raw = walk x (splits to come), so
        the level (and volume) in today's units is rescaled by the ratio.
        """
        inst = self.universe.get(instrument) or self.universe.find(instrument)
        if inst is None:
            raise KeyError(f"instrument {instrument!r}")
        if numerator <= 0 or denominator <= 0:
            raise ValueError("numerator and denominator must be > 0")
        if day < FIRST_DAY:
            raise ValueError(f"split date before {FIRST_DAY}")
        session = day_of(inst.sessions.next_session(day_number(day)))
        split = Split(session, float(numerator), float(denominator))
        if any(s.day == session for s in inst.splits):
            raise ValueError(f"{inst.id} already splits on {session}")
        self._seeded.setdefault(inst.id, inst)
        changed = dataclasses.replace(
            inst,
            base_price=inst.base_price / split.ratio,
            base_volume=max(1, round(inst.base_volume * split.ratio)),
            splits=tuple(sorted((*inst.splits, split), key=lambda s: s.day)),
        )
        self._install(changed)
        self._injected.append((inst.id, split))
        return split

    def clear_splits(self) -> None:
        """Drop every injected split: instruments return to the seed's own."""
        for inst in self._seeded.values():
            self._install(inst)
        self._seeded.clear()
        self._injected.clear()

    def injected_splits(self) -> list[dict]:
        """The injected splits, oldest injection first."""
        return [
            {
                "instrument": inst_id,
                "date": s.day.isoformat(),
                "numerator": s.numerator,
                "denominator": s.denominator,
                "splitRatio": f"{s.numerator:g}:{s.denominator:g}",
            }
            for inst_id, s in self._injected
        ]

    def _install(self, inst: SimInstrument) -> None:
        self.universe.replace(inst)
        self.prices.forget(inst.id)
        self.version += 1

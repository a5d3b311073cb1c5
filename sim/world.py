"""The simulated world one seed describes: instruments, prices, news and disclosures."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sim.filings import FilingModel
from sim.news import NewsModel
from sim.prices import PriceModel
from sim.universe import Universe


class SimWorld:
    """Every generator of one seed, plus the clock that decides which data exists yet."""

    def __init__(self, seed: int, universe: Universe, clock: Callable[[], float] = time.time):
        self.seed = seed
        self.universe = universe
        self.prices = PriceModel(seed)
        self.news = NewsModel(seed, universe)
        self.filings = FilingModel(seed)
        self.clock = clock

    @classmethod
    def build(
        cls, seed: int, watchlist_path: str | Path | None = None, extra_symbols: int = 0
    ) -> SimWorld:
        """The world of `seed` over the watchlist plus `extra_symbols` synthetic symbols."""
        return cls(seed, Universe.build(seed, watchlist_path, extra_symbols))

"""The simulated instruments: watchlist entries plus optional synthetic `SIM0001`... symbols.

Each instrument carries the parameters of its price path (level on a reference day, drift,
volatility), its split schedule and its dividend policy. Well-known watchlist ids get
hand-picked values; everything else is drawn from the seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from sim import rng
from sim.sessions import ExchangeSessions, sessions_for

REFERENCE_DAY = date(2024, 1, 2)  # the path passes through `base_price` on this day


@dataclass(frozen=True, slots=True)
class Split:
    """A stock split effective on `day`: `numerator` new shares for `denominator` old ones."""

    day: date
    numerator: float
    denominator: float

    @property
    def ratio(self) -> float:
        """New shares per old share (4.0 for a 4:1 split, 0.1 for a 1:10 reverse split)."""
        return self.numerator / self.denominator


@dataclass(frozen=True, slots=True)
class DividendPolicy:
    """Quarterly cash dividends from `start`, about `annual_yield` of the price, in `months`."""

    start: date
    annual_yield: float
    months: tuple[int, int, int, int]


@dataclass(frozen=True)
class SimInstrument:
    """One instrument of the simulated world and the parameters of its data."""

    id: str
    name: str
    exchange: str
    currency: str
    timezone: str
    symbols: Mapping[str, str] = field(default_factory=dict)
    base_price: float = 100.0
    annual_drift: float = 0.08
    daily_vol: float = 0.018
    base_volume: int = 1_000_000
    splits: tuple[Split, ...] = ()
    dividend: DividendPolicy | None = None
    korean_name: str | None = None
    synthetic: bool = False

    @property
    def sessions(self) -> ExchangeSessions:
        """The trading sessions of this instrument's exchange."""
        return sessions_for(self.exchange, self.timezone)

    @property
    def quote_currency(self) -> str:
        """The unit prices are quoted in: London shares trade in pence ("GBp")."""
        return "GBp" if self.currency == "GBP" and self.exchange.upper() == "LSE" else self.currency

    def symbol(self, provider: str) -> str:
        """This instrument's symbol or code at `provider` (its id when unmapped)."""
        return self.symbols.get(provider, self.id)

    @property
    def short_name(self) -> str:
        """The English name as news writes it ("Apple", "Samsung Electronics")."""
        term = self.symbols.get("newsapi", "")
        if term and term.isascii():
            return term
        name = self.name
        for suffix in (" Inc.", " Corporation", " Corp.", " Co., Ltd.", " Ltd."):
            name = name.removesuffix(suffix)
        return name


def _d(text: str) -> date:
    return date.fromisoformat(text)


# Hand-picked profiles for the default watchlist; splits follow the real companies' history.
_KNOWN: dict[str, dict] = {
    "AAPL": dict(
        base_price=185.64,
        annual_drift=0.22,
        daily_vol=0.019,
        base_volume=55_000_000,
        splits=(
            Split(_d("2000-06-21"), 2, 1),
            Split(_d("2005-02-28"), 2, 1),
            Split(_d("2014-06-09"), 7, 1),
            Split(_d("2020-08-31"), 4, 1),
        ),
        dividend=DividendPolicy(_d("2012-08-09"), 0.006, (2, 5, 8, 11)),
    ),
    "MSFT": dict(
        base_price=370.87,
        annual_drift=0.12,
        daily_vol=0.017,
        base_volume=25_000_000,
        splits=(Split(_d("2003-02-18"), 2, 1),),
        dividend=DividendPolicy(_d("2004-08-23"), 0.009, (2, 5, 8, 11)),
    ),
    "NVDA": dict(
        base_price=48.17,
        annual_drift=0.30,
        daily_vol=0.031,
        base_volume=400_000_000,
        splits=(
            Split(_d("2006-04-07"), 2, 1),
            Split(_d("2021-07-20"), 4, 1),
            Split(_d("2024-06-10"), 10, 1),
        ),
        dividend=DividendPolicy(_d("2012-11-20"), 0.0005, (3, 6, 9, 12)),
    ),
    "005930.KS": dict(
        base_price=79600,
        annual_drift=0.14,
        daily_vol=0.016,
        base_volume=15_000_000,
        splits=(Split(_d("2018-05-04"), 50, 1),),
        korean_name="삼성전자",
        dividend=DividendPolicy(_d("2017-06-29"), 0.018, (3, 6, 9, 12)),
    ),
    "000660.KS": dict(
        base_price=142400,
        annual_drift=0.12,
        daily_vol=0.024,
        base_volume=3_500_000,
        korean_name="SK하이닉스",
        dividend=DividendPolicy(_d("2021-03-30"), 0.009, (3, 6, 9, 12)),
    ),
    "VOD.L": dict(  # quoted in pence (GBp), as London shares are
        base_price=69.2,
        annual_drift=-0.04,
        daily_vol=0.015,
        base_volume=45_000_000,
        dividend=DividendPolicy(_d("2004-06-01"), 0.05, (1, 6, 8, 11)),
    ),
}

DEFAULT_WATCHLIST: tuple[dict, ...] = (
    {
        "id": "AAPL",
        "name": "Apple Inc.",
        "exchange": "NASDAQ",
        "currency": "USD",
        "timezone": "America/New_York",
        "symbols": {"yahoo": "AAPL", "alphavantage": "AAPL", "newsapi": "Apple"},
    },
    {
        "id": "MSFT",
        "name": "Microsoft Corporation",
        "exchange": "NASDAQ",
        "currency": "USD",
        "timezone": "America/New_York",
        "symbols": {"yahoo": "MSFT", "alphavantage": "MSFT", "newsapi": "Microsoft"},
    },
    {
        "id": "NVDA",
        "name": "NVIDIA Corporation",
        "exchange": "NASDAQ",
        "currency": "USD",
        "timezone": "America/New_York",
        "symbols": {"yahoo": "NVDA", "alphavantage": "NVDA", "newsapi": "NVIDIA"},
    },
    {
        "id": "005930.KS",
        "name": "Samsung Electronics",
        "exchange": "KRX",
        "currency": "KRW",
        "timezone": "Asia/Seoul",
        "symbols": {
            "yahoo": "005930.KS",
            "alphavantage": "005930.KS",
            "newsapi": "삼성전자",
            "dart": "00126380",
        },
    },
    {
        "id": "000660.KS",
        "name": "SK hynix",
        "exchange": "KRX",
        "currency": "KRW",
        "timezone": "Asia/Seoul",
        "symbols": {
            "yahoo": "000660.KS",
            "alphavantage": "000660.KS",
            "newsapi": "SK하이닉스",
            "dart": "00164779",
        },
    },
    {
        "id": "VOD.L",
        "name": "Vodafone Group Plc",
        "exchange": "LSE",
        "currency": "GBP",
        "timezone": "Europe/London",
        "symbols": {"yahoo": "VOD.L", "alphavantage": "VOD.LON", "newsapi": "Vodafone"},
    },
)


def _drawn_profile(seed: int, inst_id: str, currency: str) -> dict:
    """Seeded parameters for an instrument without a hand-picked profile."""
    r = rng.rng(seed, "profile", inst_id)
    krw = currency == "KRW"
    profile: dict = dict(
        base_price=round(r.uniform(5_000, 300_000), -2) if krw else round(r.uniform(8, 450), 2),
        annual_drift=r.uniform(-0.02, 0.18),
        daily_vol=r.uniform(0.011, 0.032),
        base_volume=int(r.uniform(2e5, 3e7)),
    )
    if r.random() < 0.35:  # some symbols split once; a few reverse-split
        day = date(r.randint(2003, 2023), r.randint(1, 12), r.randint(1, 28))
        ratio = r.choice([(2, 1), (3, 1), (4, 1), (4, 1), (5, 1), (10, 1), (3, 2), (1, 10)])
        profile["splits"] = (Split(_next_weekday(day), float(ratio[0]), float(ratio[1])),)
    if r.random() < 0.55:
        first = r.randint(1, 3)
        profile["dividend"] = DividendPolicy(
            date(r.randint(2000, 2018), 1, 1),
            r.uniform(0.004, 0.04),
            (first, first + 3, first + 6, first + 9),
        )
    return profile


def _next_weekday(day: date) -> date:
    return day if day.weekday() < 5 else date.fromordinal(day.toordinal() + 7 - day.weekday())


def make_instrument(seed: int, entry: Mapping, synthetic: bool = False) -> SimInstrument:
    """Build a SimInstrument from a watchlist entry (id, name, exchange, currency, timezone...)."""
    inst_id = str(entry["id"])
    currency = str(entry.get("currency", "USD"))
    symbols = {str(k): str(v) for k, v in (entry.get("symbols") or {}).items()}
    profile = _KNOWN.get(inst_id) or _drawn_profile(seed, inst_id, currency)
    korean = profile.get("korean_name")
    if korean is None and (not symbols.get("newsapi", "a").isascii() or currency == "KRW"):
        korean = symbols.get("newsapi")  # Korean news writes NAVER, LG or KT&G as they are
    return SimInstrument(
        id=inst_id,
        name=str(entry.get("name", inst_id)),
        exchange=str(entry.get("exchange", "NASDAQ")),
        currency=currency,
        timezone=str(entry.get("timezone", "America/New_York")),
        symbols=symbols,
        synthetic=synthetic,
        **{**profile, "korean_name": korean},
    )


class Universe:
    """All simulated instruments, looked up by id or by a provider's own symbol."""

    def __init__(self, instruments: Iterable[SimInstrument]) -> None:
        self._index(instruments)

    def _index(self, instruments: Iterable[SimInstrument]) -> None:
        self.instruments: tuple[SimInstrument, ...] = tuple(instruments)
        self._by_id = {i.id.upper(): i for i in self.instruments}
        self._by_provider: dict[tuple[str, str], SimInstrument] = {}
        self._by_name: dict[str, list[SimInstrument]] = {}  # every name, lower-case
        self._at: dict[str, list[SimInstrument]] = {}
        for inst in self.instruments:
            for provider, symbol in inst.symbols.items():
                self._by_provider[(provider, symbol.upper())] = inst
                self._at.setdefault(provider, []).append(inst)
            for name in _names(inst):
                self._by_name.setdefault(name, []).append(inst)

    @classmethod
    def build(
        cls, seed: int, watchlist_path: str | Path | None = None, extra_symbols: int = 0
    ) -> Universe:
        """The watchlist (default or read from YAML) plus `extra_symbols` synthetic symbols."""
        entries: Iterable[Mapping] = DEFAULT_WATCHLIST
        if watchlist_path is not None:
            text = Path(watchlist_path).read_text(encoding="utf-8")
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
            entries = data.get("instruments") or []
        instruments = [make_instrument(seed, entry) for entry in entries]
        for n in range(1, extra_symbols + 1):
            sym = f"SIM{n:04d}"
            entry = {
                "id": sym,
                "name": f"{sym} Holdings Inc.",
                "exchange": "NASDAQ",
                "currency": "USD",
                "timezone": "America/New_York",
                "symbols": {"yahoo": sym, "alphavantage": sym, "newsapi": sym},
            }
            instruments.append(make_instrument(seed, entry, synthetic=True))
        return cls(instruments)

    def replace(self, inst: SimInstrument) -> None:
        """Put `inst` in place of the instrument with its id (its parameters changed)."""
        self._index(inst if i.id == inst.id else i for i in self.instruments)

    def get(self, inst_id: str) -> SimInstrument | None:
        """The instrument with canonical id `inst_id` (case-insensitive)."""
        return self._by_id.get(inst_id.upper())

    def by_symbol(self, provider: str, symbol: str) -> SimInstrument | None:
        """The instrument `provider` calls `symbol` (its mapped symbol, else its id)."""
        found = self._by_provider.get((provider, symbol.upper()))
        if found is None:
            inst = self._by_id.get(symbol.upper())
            if inst is not None and provider not in inst.symbols:
                found = inst  # unmapped at this provider: it goes by the canonical id
        return found

    def at(self, provider: str) -> list[SimInstrument]:
        """The instruments with a symbol of their own at `provider`, in universe order."""
        return self._at.get(provider, [])

    def find(self, term: str) -> SimInstrument | None:
        """The instrument matching `term` by id, any provider symbol or any of its names (the
        first in universe order when several do); an index lookup, whatever the size."""
        found = self._by_name.get(term.strip().lower())
        return found[0] if found else None

    def named(self, term: str) -> list[SimInstrument]:
        """Every instrument `term` names (GOOGL and GOOG are both "Alphabet"), in order."""
        return list(self._by_name.get(term.strip().lower(), ()))


def _names(inst: SimInstrument) -> set[str]:
    """Everything `Universe.find` knows `inst` by, lower-case."""
    names = {inst.id, inst.name, inst.short_name, inst.korean_name or "", *inst.symbols.values()}
    return {n.strip().lower() for n in names if n.strip()}

"""Which instruments a news headline concerns: the one matcher RSS and NewsAPI share.

Terms per instrument, from its config: tickers (the id and the yahoo/alphavantage symbols
without their exchange suffix, e.g. `AAPL`, `005930`), its name without the legal suffix
(`Apple Inc.` → `Apple`), the newsapi symbol (a Korean name such as `삼성전자`) and its
`aliases`. Rules, so that a word is not a company:

- Tickers match case-sensitively as whole words (`AAPL`, `$AAPL`, `NASDAQ: AAPL`). A ticker
  of one or two letters or one that is an English word (`A`, `ON`, `ALL`) matches only as
  a cashtag `$ON` or after an exchange prefix `(NASDAQ: ON)`.
- Latin names match as whole words in any case (`NVIDIA`, `Nvidia`, `SK Hynix`); a name
  whose first word is a common English word matches only as written (`ON Semiconductor`,
  not "on semiconductor"), and a name that is one common word (`Apple`, `Target`) only with
  corroboration: a market word (shares, earnings, 주가, …) or another company named
  outright (by a strong term) in the same text.
- Korean names match as written anywhere (particles attach to them: `삼성전자가`).
- Where one instrument's term lies inside a longer matched term of another (`Samsung` in
  `Samsung Heavy Industries`), only the longer one counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.models import Instrument

_LEGAL_SUFFIX = re.compile(
    r"[,\s]+(inc\.?|incorporated|corp\.?|corporation|co\.?,?\s*ltd\.?|co\.?|ltd\.?|limited|"
    r"plc|n\.v\.|s\.a\.|ag|se|holdings?)$",
    re.IGNORECASE,
)
# English words that are also tickers or company names: they need more than themselves.
COMMON_WORDS = frozenset(
    [
        "a",
        "all",
        "an",
        "and",
        "any",
        "apple",
        "are",
        "as",
        "at",
        "be",
        "best",
        "big",
        "block",
        "can",
        "car",
        "cat",
        "coin",
        "da",
        "data",
        "deal",
        "does",
        "eat",
        "edit",
        "fast",
        "fox",
        "gap",
        "go",
        "good",
        "has",
        "hd",
        "home",
        "hot",
        "it",
        "key",
        "kind",
        "live",
        "low",
        "ma",
        "main",
        "meta",
        "mo",
        "new",
        "next",
        "now",
        "on",
        "one",
        "open",
        "or",
        "out",
        "pay",
        "peak",
        "play",
        "post",
        "real",
        "run",
        "safe",
        "see",
        "shell",
        "snap",
        "so",
        "square",
        "sun",
        "target",
        "ticker",
        "time",
        "top",
        "true",
        "two",
        "up",
        "us",
        "visa",
        "way",
        "well",
        "win",
        "you",
        "zoom",
    ]
)
MARKET_WORDS = (
    "shares", "stock", "stocks", "earnings", "revenue", "profit", "quarter", "quarterly",
    "ceo", "investors", "analyst", "analysts", "market", "sales", "iphone", "dividend",
    "guidance", "results", "nasdaq", "nyse", "valuation", "주가", "실적", "매출", "영업이익",
    "주식", "증시", "투자",
)  # fmt: skip
_MARKET = re.compile(r"\b(" + "|".join(MARKET_WORDS) + r")\b", re.IGNORECASE)
_EXCHANGES = r"(?:NASDAQ|NYSE|NYSEARCA|AMEX|KRX|KOSPI|KOSDAQ|TSX|LSE)"


@dataclass(frozen=True, slots=True)
class _Term:
    instrument_id: str
    text: str
    pattern: re.Pattern[str]
    weak: bool  # needs corroboration: another term of the instrument or a market word


def _stem_name(name: str) -> str:
    stripped = _LEGAL_SUFFIX.sub("", name.strip())
    return stripped or name.strip()


def _ticker_pattern(ticker: str, weak: bool) -> re.Pattern[str]:
    t = re.escape(ticker)
    if weak:
        return re.compile(rf"(?:\$|\b{_EXCHANGES}:\s?){t}(?![\w])")
    return re.compile(rf"(?<![\w$.]){t}(?![\w])|\${t}(?![\w])")


def _name_patterns(name: str) -> tuple[re.Pattern[str], bool]:
    if not name.isascii():  # Korean (or other) script: particles attach, no word boundary
        return re.compile(re.escape(name)), False
    words = name.split()
    if words[0].lower().strip(".,") not in COMMON_WORDS:
        return re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])", re.IGNORECASE), False
    # A common first word: only as written; a lone common word also needs corroboration.
    return re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])"), len(words) == 1


def terms_of(instrument: Instrument) -> list[_Term]:
    """The terms one instrument is recognised by (see the module docstring)."""
    out: list[_Term] = []
    tickers = {instrument.id.split(".")[0]}
    for provider in ("yahoo", "alphavantage"):
        if provider in instrument.symbols:
            tickers.add(instrument.symbols[provider].split(".")[0])
    for ticker in sorted(t for t in tickers if t):
        weak = len(ticker) <= 2 or ticker.lower() in COMMON_WORDS
        out.append(_Term(instrument.id, ticker, _ticker_pattern(ticker, weak), False))
    names = {_stem_name(instrument.name), instrument.name.strip()}
    if "newsapi" in instrument.symbols:
        names.add(instrument.symbols["newsapi"])
    names.update(a for a in getattr(instrument, "aliases", ()) if a.strip())
    for name in sorted(n for n in names if n):
        pattern, weak = _name_patterns(name)
        out.append(_Term(instrument.id, name, pattern, weak))
    return out


class Matcher:
    """Matches texts against a fixed set of instruments; build once, use for many texts."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self.instruments = {i.id: i for i in instruments}
        self._terms = [t for i in self.instruments.values() for t in terms_of(i)]

    def match(self, *texts: str | None, only: Sequence[str] | None = None) -> tuple[str, ...]:
        """Ids of the instruments `texts` concern (in watchlist order); `only` limits the
        candidates (a feed's listed instruments)."""
        text = "\n".join(t for t in texts if t)
        if not text:
            return ()
        allowed = None if only is None else set(only)
        spans: list[tuple[int, int, _Term]] = []
        for term in self._terms:
            if allowed is not None and term.instrument_id not in allowed:
                continue
            spans += [(m.start(), m.end(), term) for m in term.pattern.finditer(text)]
        # A span inside a longer span of another instrument is that one's, not this one's.
        kept = [
            (s, e, t)
            for s, e, t in spans
            if not any(
                s2 <= s and e <= e2 and (e2 - s2) > (e - s) and t2.instrument_id != t.instrument_id
                for s2, e2, t2 in spans
            )
        ]
        strong = {t.instrument_id for _, _, t in kept if not t.weak}
        found = set(strong)
        # Corroboration for a weak term: a market word, or another company named outright.
        if any(t.weak for _, _, t in kept) and (strong or _MARKET.search(text)):
            found.update(t.instrument_id for _, _, t in kept if t.weak)
        return tuple(i for i in self.instruments if i in found)

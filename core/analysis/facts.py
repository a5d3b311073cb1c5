"""Facts a report rests on, computed from stored rows before any model is asked (pure).

Prices are daily closes adjusted for splits (`core.adjust`, mode `splits`): returns over 1, 5,
21 and 63 sessions (1 d, 5 d, 1 m, 3 m), the last close's place in its 52-week high–low range,
the last session's volume against the 20 sessions before it, and the largest daily move in
the window. Filings are the window's DART disclosures with a type read from their titles.
Verdicts are the stored article verdicts: counts by label and the relevance-weighted mean.

Each fact has a short id (f1, f2, …), a value with its unit, a one-line text giving that
value as the model may quote it, and the rows it came from. Values are rounded as the text
shows them, so a number copied from a text is the fact's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import fmean
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from core.adjust import adjust
from core.models import Bar, CorporateAction, Disclosure
from core.storage.facts import Verdict
from core.stories import one_per_story

SESSIONS = {"1d": 1, "5d": 5, "1m": 21, "3m": 63}
VOLUME_SESSIONS = 20
RANGE_DAYS = 365
MAX_FILING_FACTS = 6
NO_RELEVANCE_WEIGHT = 0.5  # lexicon verdicts carry no relevance
MIN_WEIGHT = 0.1


class FactSource(BaseModel):
    """Rows a fact came from: `table` and their keys (bar dates, disclosure ids, fingerprints)."""

    table: str
    instrument_id: str
    keys: list[str]


class Fact(BaseModel):
    """One computed fact: `value` in `unit` (None for a filing), `text` as the model sees it,
    `details` other numbers the text states (they may be quoted too)."""

    id: str
    kind: str
    value: float | None
    unit: str
    text: str
    details: dict[str, float] = {}
    source: FactSource

    def numbers(self) -> list[float]:
        """Every number this fact states."""
        return [v for v in [self.value, *self.details.values()] if v is not None]


def _day(bar: Bar, zone: str) -> str:
    return bar.ts.astimezone(ZoneInfo(zone)).date().isoformat()


def _pct(new: float, old: float) -> float:
    return round((new / old - 1.0) * 100.0, 2)


def _draft(
    kind: str,
    value: float | None,
    unit: str,
    text: str,
    table: str,
    inst: str,
    keys: Sequence[str],
    **details: float,
) -> Fact:
    source = FactSource(table=table, instrument_id=inst, keys=list(keys))
    return Fact(id="", kind=kind, value=value, unit=unit, text=text, details=details, source=source)


def price_facts(
    bars: Sequence[Bar],
    actions: Sequence[CorporateAction],
    window: tuple[datetime, datetime],
    timezone: str,
    currency: str,
) -> list[Fact]:
    """Return, range, volume and largest-move facts from daily bars as traded (oldest first)."""
    done = adjust([b for b in bars if not b.partial], actions, {}, "splits", timezone)
    series = [b for b in done.bars if b.close]
    if len(series) < 2:
        return []
    inst, out = series[0].instrument_id, []
    last = series[-1]
    for name, n in SESSIONS.items():
        if len(series) > n:
            before = series[-1 - n]
            change = _pct(last.close, before.close)
            text = (
                f"{name} return {change:+.2f}% (close {before.close:.2f} on "
                f"{_day(before, timezone)} to {last.close:.2f} on {_day(last, timezone)})"
            )
            keys = [_day(before, timezone), _day(last, timezone)]
            out.append(
                _draft(
                    f"return_{name}",
                    change,
                    "%",
                    text,
                    "bars",
                    inst,
                    keys,
                    start_close=round(before.close, 2),
                    close=round(last.close, 2),
                )
            )
    out += _range_fact(series, timezone, currency)
    out += _volume_fact(series, timezone)
    out += _move_fact(series, window, timezone)
    out += [_split_fact(a, inst) for a in done.applied if a.kind == "split"]
    return out


def _range_fact(series: list[Bar], zone: str, currency: str) -> list[Fact]:
    last = series[-1]
    year = [b for b in series if b.ts > last.ts - timedelta(days=RANGE_DAYS)]
    high = max(year, key=lambda b: b.high or b.close)
    low = min(year, key=lambda b: b.low or b.close)
    hi, lo = high.high or high.close, low.low or low.close
    if hi <= lo:
        return []
    position = round((last.close - lo) / (hi - lo) * 100.0, 1)
    span = "52-week" if len(year) >= 200 else f"{len(year)}-session"
    text = (
        f"close {last.close:.2f} {currency} sits at {position:.1f}% of its {span} range "
        f"(low {lo:.2f} on {_day(low, zone)}, high {hi:.2f} on {_day(high, zone)})"
    )
    keys = sorted({_day(last, zone), _day(low, zone), _day(high, zone)})
    return [
        _draft(
            "range_52w",
            position,
            "%",
            text,
            "bars",
            last.instrument_id,
            keys,
            close=round(last.close, 2),
            low=round(lo, 2),
            high=round(hi, 2),
            sessions=float(len(year)),
        )
    ]


def _volume_fact(series: list[Bar], zone: str) -> list[Fact]:
    last, before = series[-1], series[-1 - VOLUME_SESSIONS : -1]
    volumes = [b.volume for b in before if b.volume]
    if not last.volume or len(volumes) < VOLUME_SESSIONS:
        return []
    average = fmean(volumes)
    ratio = round(last.volume / average, 2)
    text = (
        f"volume {last.volume:,} on {_day(last, zone)} is {ratio:.2f}x its "
        f"{VOLUME_SESSIONS}-session average of {average:,.0f}"
    )
    keys = [_day(b, zone) for b in [*before, last]]
    return [
        _draft(
            "volume_vs_avg20",
            ratio,
            "x",
            text,
            "bars",
            last.instrument_id,
            keys,
            volume=float(last.volume),
            average=round(average),
            pct_of_average=round(ratio * 100.0),
        )
    ]


def _move_fact(series: list[Bar], window: tuple[datetime, datetime], zone: str) -> list[Fact]:
    moves = [
        (_pct(b.close, a.close), a, b) for a, b in pairwise(series) if window[0] <= b.ts < window[1]
    ]
    if not moves:
        return []
    change, before, bar = max(moves, key=lambda m: (abs(m[0]), m[2].ts))
    text = (
        f"largest daily move in the window {change:+.2f}% on {_day(bar, zone)} "
        f"(close {before.close:.2f} to {bar.close:.2f})"
    )
    return [
        _draft(
            "largest_move",
            change,
            "%",
            text,
            "bars",
            bar.instrument_id,
            [_day(before, zone), _day(bar, zone)],
            close=round(bar.close, 2),
            start_close=round(before.close, 2),
        )
    ]


def _split_fact(action: CorporateAction, inst: str) -> Fact:
    ratio = float(action.ratio or 1.0)
    shown = f"{ratio:g}"
    text = (
        f"{shown}-for-1 split on {action.ex_date.isoformat()}: earlier prices are divided "
        f"by {shown} and volumes multiplied by {shown}"
    )
    return _draft(
        "split",
        ratio,
        "ratio",
        text,
        "corporate_actions",
        inst,
        [f"split:{action.ex_date.isoformat()}"],
        old_shares=1.0,
    )


# DART report names → a type; the first keyword found wins.
FILING_TYPES = (
    (("사업보고서", "반기보고서", "분기보고서"), "periodic report"),
    (("주요사항보고서",), "major event report"),
    (("잠정", "공정공시"), "fair disclosure"),
    (("소유상황보고서", "대량보유"), "ownership report"),
    (("배당",), "dividend decision"),
    (("공급계약",), "supply contract"),
    (("기업설명회",), "investor relations event"),
    (("내부거래", "기업집단"), "group disclosure"),
)


def filing_type(title: str) -> str:
    """The kind of a DART filing read from its report name (corrections say so)."""
    kind = next((name for words, name in FILING_TYPES if any(w in title for w in words)), None)
    kind = kind or "other filing"
    return f"correction of {kind}" if "정정" in title else kind


def filing_facts(filings: Sequence[Disclosure], zone: str) -> list[Fact]:
    """A count of the window's filings by type, and the newest ones one by one."""
    if not filings:
        return []
    inst = filings[0].instrument_id
    keys = [f"{d.provider}:{d.provider_id}" for d in filings]
    types: dict[str, int] = {}
    for d in filings:
        types[filing_type(d.title)] = types.get(filing_type(d.title), 0) + 1
    parts = ", ".join(f"{n} {kind}" for kind, n in sorted(types.items(), key=lambda t: -t[1]))
    text = f"{len(filings)} filings in the window: {parts}"
    out = [
        _draft(
            "filings",
            float(len(filings)),
            "filings",
            text,
            "disclosures",
            inst,
            keys,
            **{k.replace(" ", "_"): float(n) for k, n in types.items()},
        )
    ]
    for d in filings[:MAX_FILING_FACTS]:
        day = d.filed_at.astimezone(ZoneInfo(zone)).date().isoformat()
        by = f" by {d.filer}" if d.filer else ""
        text = f"filing on {day}{by}: {d.title} ({filing_type(d.title)})"
        out.append(
            _draft("filing", None, "", text, "disclosures", inst, [f"{d.provider}:{d.provider_id}"])
        )
    return out


def weight(verdict: Verdict) -> float:
    """A verdict's weight in the aggregate: its relevance (lexicon: NO_RELEVANCE_WEIGHT)."""
    rel = NO_RELEVANCE_WEIGHT if verdict.relevance is None else verdict.relevance
    return max(MIN_WEIGHT, rel)


def weighted_sentiment(verdicts: Sequence[Verdict]) -> float:
    """The relevance-weighted mean of the verdicts' sentiment, one vote per story (0
    without verdicts)."""
    verdicts = one_per_story(verdicts)
    if not verdicts:
        return 0.0
    total = sum(weight(v) for v in verdicts)
    return sum(weight(v) * v.sentiment for v in verdicts) / total


def verdict_facts(verdicts: Sequence[Verdict], instrument_id: str) -> list[Fact]:
    """Counts by label and the mean sentiments of the window's article verdicts, a story
    (`core.stories`) counted once."""
    total, verdicts = len(verdicts), one_per_story(verdicts)
    if not verdicts:
        return []
    keys = [v.fingerprint for v in verdicts]
    by = {
        lab: [v for v in verdicts if v.label == lab] for lab in ("positive", "negative", "neutral")
    }
    counts = {lab: float(len(vs)) for lab, vs in by.items()}
    stories = f" in {len(verdicts)} stories" if total > len(verdicts) else ""
    text = (
        f"{total} analysed articles{stories}: {len(by['positive'])} positive, "
        f"{len(by['negative'])} negative, {len(by['neutral'])} neutral"
    )
    count = _draft(
        "articles",
        float(total),
        "articles",
        text,
        "analyses",
        instrument_id,
        keys,
        **counts,
        **({"stories": float(len(verdicts))} if stories else {}),
    )
    mean = round(weighted_sentiment(verdicts), 2)
    plain = round(fmean(v.sentiment for v in verdicts), 2)
    means = {
        f"mean_{lab}": round(fmean(v.sentiment for v in vs), 2) for lab, vs in by.items() if vs
    }
    text = f"relevance-weighted mean article sentiment {mean:+.2f} (unweighted {plain:+.2f})"
    sentiment = _draft(
        "sentiment", mean, "score", text, "analyses", instrument_id, keys, unweighted=plain, **means
    )
    return [count, sentiment]


def numbered(facts: Sequence[Fact]) -> list[Fact]:
    """The facts with their short ids f1, f2, … in order."""
    return [f.model_copy(update={"id": f"f{i + 1}"}) for i, f in enumerate(facts)]


RATINGS = ("strong_sell", "sell", "hold", "buy", "strong_buy")
MOMENTUM_WEIGHT = 0.2  # the most a price trend can move the score
MOMENTUM_SCALE_PCT = 10.0  # a 1-month return of ±10 % or more moves it fully


class HouseView(BaseModel):
    """Our aggregate: article sentiment, the bounded momentum term, their sum and its rating."""

    sentiment: float
    momentum: float
    score: float
    rating: str


def house_view(verdicts: Sequence[Verdict], facts: Sequence[Fact]) -> HouseView:
    """sentiment = relevance-weighted mean article sentiment; momentum = 0.2 × clamp(1-month
    return / 10 %, -1, 1) (the 5-day return when no 1-month one, else 0); rating = the
    five-step rating of clamp(sentiment + momentum, -1, 1) (thresholds ±0.15, ±0.5)."""
    returns = {f.kind: f.value for f in facts if f.kind.startswith("return_")}
    trend = returns.get("return_1m", returns.get("return_5d")) or 0.0
    momentum = MOMENTUM_WEIGHT * max(-1.0, min(1.0, trend / MOMENTUM_SCALE_PCT))
    sentiment = max(-1.0, min(1.0, weighted_sentiment(verdicts)))
    score = max(-1.0, min(1.0, sentiment + momentum))
    return HouseView(
        sentiment=round(sentiment, 3),
        momentum=round(momentum, 3),
        score=round(score, 3),
        rating=rating_of(score),
    )


def rating_of(score: float) -> str:
    """The five-step rating of a score in [-1, 1]."""
    if score >= 0.5:
        return "strong_buy"
    if score >= 0.15:
        return "buy"
    if score > -0.15:
        return "hold"
    if score > -0.5:
        return "sell"
    return "strong_sell"


def rating_disagrees(ours: str, model: str | None) -> bool:
    """The model's rating is 2+ steps from ours, or on the other side of hold."""
    if model not in RATINGS:
        return False
    a, b = RATINGS.index(ours) - 2, RATINGS.index(model) - 2
    return abs(a - b) >= 2 or a * b < 0

"""The simulated LLM's research notes on computed facts (the `REPORT:` contract with `facts`).

The note cites fact ids (f1…) and article ids (a1…) and states numbers only as the facts it
was given state them, so its reports are fully grounded, unless `ungrounded_rate` adds a
claim with a number no fact gives. Its own rating follows the mean article sentiment, like a
model reading the headlines would; like a gullible model, it obeys an instruction to "ignore
the above … rate X" found in an article (the client must not publish the model's rating).
A `FIX:` message after a note (a repair request) is answered with a fresh note on the same
`REPORT:` payload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from sim import rng
from sim.news import LABEL_THRESHOLD

_RATINGS = ((0.5, "strong_buy"), (0.15, "buy"), (-0.15, "hold"), (-0.5, "sell"))
_RATING_SENTIMENT = {"strong_buy": 0.8, "buy": 0.4, "hold": 0.0, "sell": -0.4, "strong_sell": -0.8}
_INJECTION = re.compile(
    r"ignore (?:all |the |any )?(?:above|previous|prior)\b.*?\brate\b\W*(?:it\W+)?"
    r"(strong_buy|strong_sell|buy|hold|sell)",
    re.IGNORECASE | re.DOTALL,
)
_OUTLOOK = {
    "strong_buy": "The facts and the news flow are clearly favourable; momentum may continue.",
    "buy": "Facts and coverage lean positive; modest upside if the themes hold.",
    "hold": "Facts and coverage are mixed; no clear direction for now.",
    "sell": "Facts and coverage lean negative; risks outweigh the positives for now.",
    "strong_sell": "The facts and the news flow are clearly unfavourable; expect pressure.",
}
_SUMMARY_KINDS = ("articles", "sentiment", "return_1m", "return_5d", "range_52w", "filings")
_FACT_NUMBER = re.compile(r"[+\-]?\d[\d,]*(?:\.\d+)?%?")


def _objects(value: object) -> list[Mapping]:
    return [x for x in value or [] if isinstance(x, Mapping) and x.get("id")]  # type: ignore[union-attr]


def _number_free(title: str) -> str:
    """A headline retold without its figures (the note states numbers only from facts)."""
    words = [w for w in title.split() if not re.search(r"\d", w)]
    text = re.sub(r"\s+([,.;:…])", r"\1", " ".join(words)).strip(" ,;:…")
    return text[:117] + "..." if len(text) > 120 else text


def _injected(articles: Sequence[Mapping]) -> str | None:
    for item in articles:
        found = _INJECTION.search(f"{item.get('title') or ''} {item.get('text') or ''}")
        if found:
            return found.group(1).lower()
    return None


def _sentiment(item: Mapping) -> float:
    try:
        return max(-1.0, min(1.0, float(item.get("sentiment") or 0.0)))
    except (TypeError, ValueError):
        return 0.0


def _signed(fact: Mapping) -> float:
    """The first number of a fact's text (its value as stated), 0 when none."""
    found = _FACT_NUMBER.search(str(fact.get("text") or "").split(" return ", 1)[-1])
    try:
        return float(found.group(0).rstrip("%").replace(",", "")) if found else 0.0
    except ValueError:
        return 0.0


def grounded_report(payload: Mapping, digest: int, ungrounded_rate: float) -> dict:
    """A note citing the given facts and articles; numbers only as the facts state them."""
    instrument = payload.get("instrument")
    if isinstance(instrument, Mapping):
        instrument = instrument.get("name") or instrument.get("id")
    name = str(instrument or "the instrument")
    facts, articles = _objects(payload.get("facts")), _objects(payload.get("articles"))
    by_kind = {str(f.get("kind")): f for f in facts}
    ranked = sorted(articles, key=lambda a: -_sentiment(a))
    positives = [
        {"text": _number_free(str(a.get("title") or "")), "citations": [a["id"]]}
        for a in ranked
        if _sentiment(a) >= LABEL_THRESHOLD
    ][:3]
    concerns = [
        {"text": _number_free(str(a.get("title") or "")), "citations": [a["id"]]}
        for a in reversed(ranked)
        if _sentiment(a) <= -LABEL_THRESHOLD
    ][:3]
    trend = by_kind.get("return_1m") or by_kind.get("return_5d")
    if trend is not None:
        side = positives if _signed(trend) >= 0 else concerns
        side.append({"text": f"Price trend: {trend['text']}", "citations": [trend["id"]]})
    if "filings" in by_kind:
        filings = by_kind["filings"]
        concerns.append({"text": f"Disclosure activity: {filings['text']}",
                         "citations": [filings["id"]]})  # fmt: skip
    mean = sum(_sentiment(a) for a in articles) / len(articles) if articles else 0.0
    rating = _injected(articles) or next((r for f, r in _RATINGS if mean >= f), "strong_sell")
    if rng.unit(rng.at(digest, 3)) < ungrounded_rate and articles:
        positives.append({"text": "Revenue grew 37.5% year on year, ahead of estimates",
                          "citations": [articles[0]["id"]]})  # fmt: skip
    picked = [by_kind[k] for k in _SUMMARY_KINDS if k in by_kind]
    summary = f"{name}: " + "; ".join(f"{f['text']} [{f['id']}]" for f in picked) + "."
    cited = [c for p in positives + concerns for c in p["citations"]]
    return {
        "summary": summary if picked else f"{name}: no computed facts were given.",
        "positives": positives,
        "concerns": concerns,
        "outlook": _OUTLOOK[rating],
        "rating": rating,
        "sentiment": round(_RATING_SENTIMENT[rating] if _injected(articles) else mean, 3),
        "citations": list(dict.fromkeys([*(f["id"] for f in picked), *cited])),
    }

"""Lexicon accuracy and macro-F1 on public labelled financial sentiment sets.

The sets are vendored in `bench/data/sentiment/` (sources and label rules in its README).
Each text goes to the tune or the test split by a hash of its normalised text, so the split is
deterministic, disjoint and independent of row order; the lexicon is tuned on `tune` only.
`python -m bench._lexicon_eval` prints one JSON line with the figures.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.analysis.lexicon import UnsupportedText, score_text

DATA_DIR = Path(__file__).parent / "data" / "sentiment"
LABELS = ("positive", "negative", "neutral")
TEST_BUCKETS = 5  # of 10 hash buckets go to the untouched test split


@dataclass(frozen=True, slots=True)
class LabelledText:
    """One labelled sentence of a named set."""

    set_name: str
    text: str
    label: str


def split_of(text: str) -> str:
    """ "tune" or "test", from a hash of the lower-cased, whitespace-collapsed text."""
    key = " ".join(text.lower().split()).encode("utf-8")
    bucket = int(hashlib.sha256(key).hexdigest()[:8], 16) % 10
    return "test" if bucket < TEST_BUCKETS else "tune"


def load_sets(split: str | None = None) -> list[LabelledText]:
    """Every vendored row (or only those of `split`), in file then line order."""
    rows = []
    for path in sorted(DATA_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            if split is None or split_of(item["text"]) == split:
                rows.append(LabelledText(path.stem, item["text"], item["label"]))
    return rows


def predict(text: str) -> str:
    """The lexicon's label; text it cannot score counts as neutral."""
    try:
        return score_text(text).label
    except UnsupportedText:
        return "neutral"


def metrics(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Accuracy and macro-F1 (over the three labels) of (predicted, true) pairs."""
    pairs = list(pairs)
    f1s = []
    for label in LABELS:
        tp = sum(p == t == label for p, t in pairs)
        predicted = sum(p == label for p, _ in pairs)
        actual = sum(t == label for _, t in pairs)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if tp else 0.0)
    accuracy = sum(p == t for p, t in pairs) / len(pairs) if pairs else 0.0
    return {"accuracy": round(accuracy, 4), "macro_f1": round(sum(f1s) / len(f1s), 4)}


def _figures(rows: list[LabelledText]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    scored = [(row, predict(row.text)) for row in rows]
    pooled = metrics((p, row.label) for row, p in scored)
    by_set: dict[str, dict[str, float]] = {}
    for name in sorted({row.set_name for row in rows}):
        pairs = [(p, row.label) for row, p in scored if row.set_name == name]
        by_set[name] = {**metrics(pairs), "n": len(pairs)}
    return pooled, by_set


Figures = dict[str, float | str | dict[str, dict[str, float]] | None]
# The peer: VADER (Hutto & Gilbert 2014, `vaderSentiment` on PyPI), the usual rule-based
# lexicon for short English texts, with its documented thresholds (compound ±0.05). English
# sets only: it has no Korean. Compared with ours on exactly the same rows.
VADER_THRESHOLD = 0.05


def peer_figures(rows: list[LabelledText]) -> Figures:
    """VADER and our lexicon on the English rows of `rows` (VADER absent: says so)."""
    english = [r for r in rows if not r.set_name.startswith("ko_")]
    ours = metrics((predict(r.text), r.label) for r in english)
    out: Figures = {
        "lexicon_en_accuracy": ours["accuracy"], "lexicon_en_macro_f1": ours["macro_f1"],
        "peer": "vaderSentiment (compound >= 0.05 positive, <= -0.05 negative)",
    }  # fmt: skip
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        out["peer"] = "vaderSentiment not installed (pip install -e '.[test]')"
        return out | {"peer_vader_en_accuracy": None, "peer_vader_en_macro_f1": None}
    vader = SentimentIntensityAnalyzer()

    def label(text: str) -> str:
        compound = vader.polarity_scores(text)["compound"]
        if compound >= VADER_THRESHOLD:
            return "positive"
        return "negative" if compound <= -VADER_THRESHOLD else "neutral"

    peer = metrics((label(r.text), r.label) for r in english)
    return out | {
        "peer_vader_en_accuracy": peer["accuracy"], "peer_vader_en_macro_f1": peer["macro_f1"]
    }  # fmt: skip


def lexicon_figures() -> Figures:
    """Pooled and per-set accuracy / macro-F1 on the test split, and pooled on the tune split."""
    test, test_by_set = _figures(load_sets("test"))
    tune, tune_by_set = _figures(load_sets("tune"))
    return {
        "lexicon_accuracy": test["accuracy"],
        "lexicon_macro_f1": test["macro_f1"],
        "lexicon_by_set": test_by_set,
        "lexicon_tune_accuracy": tune["accuracy"],
        "lexicon_tune_macro_f1": tune["macro_f1"],
        "lexicon_tune_by_set": tune_by_set,
        **peer_figures(load_sets("test")),
    }


if __name__ == "__main__":
    print(json.dumps(lexicon_figures()))

"""core.matching on a set of headlines (tests/unit/data/headlines.yaml): precision and recall
above a floor, and the traps one by one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.matching import Matcher
from core.models import Instrument

DATA = yaml.safe_load((Path(__file__).parent / "data" / "headlines.yaml").read_text("utf-8"))
PRECISION_FLOOR = 0.95
RECALL_FLOOR = 0.90


def _instrument(entry: dict) -> Instrument:
    return Instrument(str(entry["id"]), entry["name"], entry["exchange"], "USD", "UTC",
                      entry["symbols"], tuple(entry.get("aliases", ())))  # fmt: skip


MATCHER = Matcher(_instrument(e) for e in DATA["instruments"])


def test_the_set_is_big_enough_and_bilingual() -> None:
    texts = [h["text"] for h in DATA["headlines"]]
    assert len(texts) >= 40
    korean = [t for t in texts if not t.isascii()]
    assert len(korean) >= 10 and len(texts) - len(korean) >= 25
    assert sum(1 for h in DATA["headlines"] if not h["expect"]) >= 10  # traps naming no one


def test_precision_and_recall_above_the_floor() -> None:
    tp = fp = fn = 0
    for headline in DATA["headlines"]:
        got, expected = set(MATCHER.match(headline["text"])), set(map(str, headline["expect"]))
        tp, fp, fn = tp + len(got & expected), fp + len(got - expected), fn + len(expected - got)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"matching: precision {precision:.3f} recall {recall:.3f} over {tp + fn} links")
    assert precision >= PRECISION_FLOOR and recall >= RECALL_FLOOR


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Apple pie recipes for a cozy fall weekend", ()),
        ("Apple shares rise after record iPhone sales", ("AAPL",)),
        ("Tariffs on semiconductor imports weigh on chipmakers", ()),
        ("ON Semiconductor beats estimates on auto chip demand", ("ON",)),
        ("Traders bet ON a rate cut", ()),
        ("Options activity jumps in $ON", ("ON",)),
        ("A look at the week ahead", ()),
        ("Samsung Heavy Industries wins LNG carrier order", ("010140.KS",)),
        ("삼성중공업, LNG선 수주", ("010140.KS",)),
        ("삼성전자가 HBM 공급 확대", ("005930.KS",)),
        ("Fed keeps inflation target at 2%", ()),
    ],
)
def test_traps(text: str, expected: tuple[str, ...]) -> None:
    assert MATCHER.match(text) == expected


def test_only_limits_the_candidates_and_empty_text_matches_nothing() -> None:
    text = "Microsoft and Nvidia team up on AI"
    assert MATCHER.match(text) == ("MSFT", "NVDA")
    assert MATCHER.match(text, only=["NVDA"]) == ("NVDA",)
    assert MATCHER.match(None, "") == ()

"""Facts from a small hand-built series: returns across a 2-for-1 split, range, volume,
largest move, filings and verdicts, and our rating from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.analysis.facts import (
    filing_facts,
    filing_type,
    house_view,
    numbered,
    price_facts,
    rating_disagrees,
    verdict_facts,
)
from core.models import Bar, CorporateAction, Disclosure
from core.storage.facts import Verdict

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
SPLIT_AT = 60  # 2024-03-01: a 2-for-1 split; bars before it traded at twice the price


def _adjusted_close(i: int) -> float:
    return 155.0 if i == 65 else 100.0 + i  # one dip, on day 65


def _bars() -> list[Bar]:
    out = []
    for i in range(70):
        factor = 2.0 if i < SPLIT_AT else 1.0
        close = _adjusted_close(i) * factor
        volume = 5000 if i == 69 else round(2000 / factor)
        out.append(Bar("TST", "1d", DAY0 + timedelta(days=i), close, close * 1.01,
                       close * 0.99, close, volume, "sim"))  # fmt: skip
    return out


SPLIT = CorporateAction("TST", "split", (DAY0 + timedelta(days=SPLIT_AT)).date(), 2.0, None, "sim")
WINDOW = (DAY0 + timedelta(days=55), DAY0 + timedelta(days=70))


def _by_kind() -> dict:
    return {f.kind: f for f in price_facts(_bars(), [SPLIT], WINDOW, "UTC", "USD")}


def test_returns_are_split_adjusted() -> None:
    facts = _by_kind()
    # adjusted closes: last 169, 1 session before 168, 5 before 164, 21 before 148, 63 before 106
    assert facts["return_1d"].value == pytest.approx(0.60)
    assert facts["return_5d"].value == pytest.approx(3.05)
    assert facts["return_1m"].value == pytest.approx(14.19)
    assert facts["return_3m"].value == pytest.approx(59.43)  # as traded it would be -20.28
    assert facts["return_3m"].source.keys == ["2024-01-07", "2024-03-10"]
    assert facts["return_3m"].source.table == "bars" and "+59.43%" in facts["return_3m"].text


def test_range_volume_largest_move_and_split() -> None:
    facts = _by_kind()
    rng = facts["range_52w"]  # low 99.00 (day 0), high 170.69 (day 69): (169 - 99) / 71.69
    assert rng.value == pytest.approx(97.6)
    assert rng.details["low"] == pytest.approx(99.0) and rng.details["high"] == 170.69
    assert "70-session range" in rng.text
    volume = facts["volume_vs_avg20"]  # 5000 against 20 sessions of 2000 (split-adjusted)
    assert volume.value == pytest.approx(2.5) and volume.details["pct_of_average"] == 250
    move = facts["largest_move"]  # 155 → 166 on day 66; the split day is no move
    assert move.value == pytest.approx(7.10) and "2024-03-07" in move.text
    assert facts["split"].value == 2.0 and facts["split"].source.table == "corporate_actions"


def _verdict(fp: str, sentiment: float, label: str, relevance: float | None) -> Verdict:
    return Verdict(fp, f"k{fp}", "llm", sentiment, label, relevance, f"title {fp}", None,
                   "newsapi", None, DAY0)  # fmt: skip


VERDICTS = [
    _verdict("fp1", 0.6, "positive", 1.0),
    _verdict("fp2", -0.4, "negative", 0.5),
    _verdict("fp3", 0.0, "neutral", None),  # lexicon: weight 0.5
]


def test_verdict_facts_and_our_rating() -> None:
    count, sentiment = verdict_facts(VERDICTS, "TST")
    assert count.value == 3 and count.details == {"positive": 1, "negative": 1, "neutral": 1}
    assert sentiment.value == pytest.approx(0.2)  # (0.6·1 − 0.4·0.5 + 0·0.5) / 2
    assert sentiment.details["unweighted"] == pytest.approx(0.07)
    assert sentiment.source.keys == ["fp1", "fp2", "fp3"]
    facts = numbered([*_by_kind().values(), count, sentiment])
    assert [f.id for f in facts][:3] == ["f1", "f2", "f3"]
    view = house_view(VERDICTS, facts)  # momentum 0.2 × clamp(14.19 / 10) = 0.2
    assert (view.sentiment, view.momentum, view.score, view.rating) == (0.2, 0.2, 0.4, "buy")
    assert house_view(VERDICTS, []).rating == "buy"  # 0.2, no price facts


def test_disagreement_is_two_steps_or_the_other_side_of_hold() -> None:
    assert not rating_disagrees("buy", "strong_buy")
    assert not rating_disagrees("hold", "buy")
    assert rating_disagrees("buy", "sell")
    assert rating_disagrees("hold", "strong_sell")
    assert not rating_disagrees("buy", None)


def test_filings_by_type() -> None:
    at = DAY0 + timedelta(days=60)
    filings = [
        Disclosure("dart", "20240301000001", "TST", "사업보고서 (2023.12)", at, "삼성전자"),
        Disclosure("dart", "20240301000002", "TST", "주요사항보고서(자기주식취득결정)", at),
        Disclosure(
            "dart", "20240301000003", "TST", "[기재정정]주요사항보고서(자기주식취득결정)", at
        ),
    ]
    assert filing_type(filings[0].title) == "periodic report"
    assert filing_type(filings[2].title) == "correction of major event report"
    count, *each = filing_facts(filings, "Asia/Seoul")
    assert count.value == 3 and count.source.keys[0] == "dart:20240301000001"
    assert count.details["periodic_report"] == 1 and len(each) == 3
    assert each[0].value is None and "2024-03-01 by 삼성전자" in each[0].text

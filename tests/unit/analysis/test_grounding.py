"""The number validator: what counts as a claim, rounding, Korean units, and the share."""

from __future__ import annotations

import pytest

from core.analysis.facts import Fact, FactSource
from core.analysis.grounding import (
    audit,
    drop_ungrounded_sentences,
    numbers_grounded_share,
    numbers_in,
    ungrounded,
)
from core.analysis.prompts import ReportAnswer


def _fact(id_: str, value: float, **details: float) -> Fact:
    source = FactSource(table="bars", instrument_id="TST", keys=["2024-03-14"])
    return Fact(id=id_, kind="k", value=value, unit="%", text="t", details=details,
                source=source)  # fmt: skip


RETURN = _fact("f1", 14.19, close=169.0, start_close=148.0)
VOLUME = _fact("f2", 2.5, volume=12_345_678.0, average=4_938_271.0, pct_of_average=250.0)
SALES = _fact("f3", 1.2e12)
DROP = _fact("f4", -5.49)


def _values(text: str) -> list[float]:
    return [n.value for n in numbers_in(text)]


def test_dates_windows_years_and_ids_are_not_claims() -> None:
    text = (
        "On 2024-03-14 [f1, a2] (March 14, 2024), the 52-week high and 20-day average over "
        "1m and 5 sessions in Q3 and 3분기, 2024년 3월 14일, report 2023.12 at 09:30 for the "
        "3rd time, see a2."
    )
    assert numbers_in(text) == []


def test_numbers_of_every_form_are_read() -> None:
    assert _values("up 14.2% to 169 from 148.00; -5.5%; +0.18") == [14.2, 169, 148, -5.5, 0.18]
    assert _values("volume 12,345,678 (2.5x, 250% of average); 12.3m shares; $1.2 billion") == [
        12_345_678, 2.5, 250, 12_300_000, 1_200_000_000,
    ]  # fmt: skip
    assert _values("매출 1조 2,000억원, 3만 주, 12.3% 증가") == [1.2e12, 30_000, 12.3]


def test_rounding_sign_and_tolerance() -> None:
    facts = [RETURN, VOLUME, SALES, DROP]
    grounded = [
        "shares rose 14.19%", "shares rose 14.2%", "shares rose about 14%", "to 169 from 148",
        "volume of 12,345,678", "some 12.3 million shares", "12,300,000 shares", "2.5x average",
        "250% of average", "매출 1조 2,000억원", "매출 1.2조원", "a fall of 5.49%", "down 5.5%",
    ]  # fmt: skip
    for text in grounded:
        assert ungrounded(text, facts) == [], text
    for text in ["shares rose 14.3%", "15% higher", "volume of 12.5 million", "1.3조원", "6%"]:
        assert ungrounded(text, facts), text


def test_audit_uses_only_the_facts_a_part_cites() -> None:
    answer = ReportAnswer(
        summary="Shares rose 14.2% [f1] on volume 2.5x the average.",
        positives=[
            {"text": "Momentum: up 14.2% over a month", "citations": ["f1", "a1"]},
            {"text": "Volume 2.5x its average", "citations": ["a1"]},
        ],
        concerns=[{"text": "Revenue grew 37.5% year on year", "citations": ["f1"]}],
        outlook="Sales of 1.2조원 support the view [f3].",
        rating="buy",
        sentiment=0.2,
        citations=["a1"],
    )
    facts = {f.id: f for f in [RETURN, VOLUME, SALES]}
    problems = {p.part: p.numbers for p in audit(answer, facts)}
    assert problems == {"summary": ["2.5x"], "positives[1]": ["2.5x"], "concerns[0]": ["37.5%"]}
    kept, dropped = drop_ungrounded_sentences(
        "Shares rose 14.2%. Revenue grew 37.5%. Outlook is fine.", [RETURN]
    )
    assert (kept, dropped) == ("Shares rose 14.2%. Outlook is fine.", 1)


def test_share_over_a_stored_report() -> None:
    report = {
        "summary": "Shares rose 14.2% [f1] on 2.5x volume [f2].",
        "outlook": "Momentum may continue.",
        "positives": [
            {"text": "Up 14.2%", "citations": ["fp"], "facts": ["f1"]},
            {
                "text": "Headline: sales up 40%",
                "citations": ["fp"],
                "facts": [],
                "kind": "headline",
            },
        ],
        "concerns": [{"text": "Revenue grew 37.5%", "citations": ["fp"], "facts": ["f1"]}],
        "coverage": {"cited_facts": ["f2"]},
        "facts": [RETURN.model_dump(), VOLUME.model_dump()],
    }
    assert numbers_grounded_share(report) == pytest.approx(3 / 4)
    assert numbers_grounded_share({"summary": "No numbers here.", "facts": []}) == 1.0


def test_what_stays_ungrounded_is_dropped_and_an_empty_summary_is_generated() -> None:
    from core.analysis.facts import HouseView
    from core.analysis.report import Draft, _grounded
    from core.models import Instrument

    view = HouseView(sentiment=0.2, momentum=0.2, score=0.4, rating="buy")
    draft = Draft({}, [RETURN, VOLUME], view, "llm")
    draft.answer = ReportAnswer(
        summary="Shares rose 14.2% [f1]. Revenue grew 37.5%.",
        positives=[
            {"text": "Margins up 3.1 points", "citations": ["f1"]},
            {"text": "Up 14.2%", "citations": ["f1"]},
        ],
        outlook="Expect 50% upside.",
        rating="strong_buy",
        sentiment=0.9,
    )
    kept = _grounded(draft, Instrument("TST", "Test Corp", "X", "USD", "UTC"), "14d", "en")
    assert kept.summary == "Shares rose 14.2% [f1]." and kept.outlook == ""
    assert [c.text for c in kept.positives] == ["Up 14.2%"] and draft.dropped == 3
    draft.answer = kept.model_copy(update={"summary": "Sales hit 1조원."})
    draft.dropped = 0
    again = _grounded(draft, Instrument("TST", "Test Corp", "X", "USD", "UTC"), "14d", "en")
    assert again.summary.startswith("Test Corp over 14d, from computed facts:")
    assert draft.dropped == 1

"""The lexicon's direction words, subjects that flip them, other senses, and the Korean forms."""

from __future__ import annotations

import pytest

from core.analysis.lexicon import score_text

DIRECTION_WORDS = [
    ("Revenue increased 12% in the third quarter", "positive"),
    ("Quarterly sales were up from $3.1bn a year earlier", "positive"),
    ("The company's operating profit doubled", "positive"),
    ("Shares up 7% after hours", "positive"),
    ("Orders fell for a second month", "negative"),
    ("Earnings per share were down 12% on the year", "negative"),
    ("Same-store sales down 3.5%", "negative"),
    ("Kohl's -11% after profit view slashed", "negative"),
    ("Canopy shares +4% premarket", "positive"),
    ("The dividend was halved", "negative"),
    ("Just Energy tops Q3 earnings estimates", "positive"),
    ("NanoString Q1 top line shy of guidance", "negative"),
]
SUBJECT_FLIPS = [
    ("Net loss narrowed to $3m", "positive"),
    ("Costs fell 8% as the plan took hold", "positive"),
    ("Revenue fell 8%", "negative"),
    ("The group swung to a profit in the fourth quarter", "positive"),
    ("The group swung to a loss in the fourth quarter", "negative"),
    ("Operating loss widened to $40m", "negative"),
    ("Debt increased sharply", "negative"),
    ("EasyJet sees better first half on lower fuel bill", "positive"),
    ("The retailer will cut 370 jobs", "negative"),
    ("The airline cut costs by 30 per cent", "positive"),
    ("Brokers raise price target on Apple", "positive"),
    ("Shell posts a rise in earnings", "positive"),
    ("BHP Billiton to lower copper production costs", "positive"),
]
OTHER_SENSES = [
    ("The concern said it would publish results in March", "neutral"),
    ("The German concern reported results on Tuesday", "neutral"),
    ("The fund invests in growth markets across Asia", "neutral"),
    ("Analyst Sue Smith covers the company", "neutral"),
    ("Shares of the cannabis producer Canopy Growth were traded on Monday", "neutral"),
    ("Nvidia Gains 5% on chip demand", "positive"),
    ("Investors voice concern over debt", "negative"),
    ("Luxury goods maker reports results on Friday", "neutral"),
    ("The wine merchant reports results on Friday", "neutral"),
    ("Regulator fines bank over reporting failures", "negative"),
    ("Barclays cuts to Equal Weight", "negative"),
    ("Clovis downgraded to in line from outperform", "negative"),
    ("CNH Industrial upped to Buy at Deutsche Bank", "positive"),
]
KOREAN = [
    ("SK하이닉스 목표가 올려", "positive"),
    ("증권가, 현대차 목표주가 잇따라 올려", "positive"),
    ("삼성SDI 목표가 낮춰", "negative"),
    ("카카오 주가 반토막", "negative"),
    ("에코프로 주가 곤두박질", "negative"),
    ("셀트리온, 美 FDA 허가 획득", "positive"),
    ("신약 품목허가", "positive"),
    ("신약 허가 불발", "negative"),
    ("현대차 영업손실 줄어", "positive"),
    ("원가 부담 줄어 수익성 개선", "positive"),
    ("매출 줄어", "negative"),
    ("부채 200조 돌파", "negative"),
]


@pytest.mark.parametrize(("text", "label"), DIRECTION_WORDS + SUBJECT_FLIPS + OTHER_SENSES)
def test_english_directions_and_senses(text: str, label: str) -> None:
    result = score_text(text, "en")
    assert result.label == label, result


@pytest.mark.parametrize(("text", "label"), KOREAN)
def test_korean_directions(text: str, label: str) -> None:
    result = score_text(text, "ko")
    assert result.label == label, result


def test_a_bound_subject_shows_in_the_hit_and_loses_its_own_weight() -> None:
    result = score_text("Net loss narrowed to $3m")
    assert result.hits == ("net loss narrowed",) and result.score > 0
    assert score_text("영업손실 줄어").hits == ("영업손실 줄어",)


def test_direction_alone_keeps_the_plain_reading() -> None:
    assert score_text("Shares fell").score < 0 < score_text("Shares rose").score
    assert score_text("Apple lowers prices").score < 0
    assert score_text("Dow closes 102 points lower").label == "negative"


def test_up_and_down_need_an_amount() -> None:
    assert score_text("Chairman to step down").label == "neutral"
    assert score_text("Apple sets up a new unit").label == "neutral"
    assert score_text("Apple down 3%").label == "negative"


def test_direction_and_subject_stay_in_their_clause() -> None:
    assert score_text("Costs were flat, revenue fell").label == "negative"
    assert score_text("Earnings held despite lower oil prices").hits == ("lower",)
    assert score_text("Shares jump after earnings beat estimates").hits == (
        "jump",
        "beat estimates",
    )


def test_negated_direction() -> None:
    assert score_text("Revenue did not increase").label == "negative"
    assert score_text("매출이 늘지 않았다").label != "positive"

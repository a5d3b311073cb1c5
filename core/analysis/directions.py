"""Direction words and the subjects they move, for the lexicon analyzer, written for stockray.

A direction word says which way something moved ("rose", "fell", "narrowed", "줄었다"); the
news is good or bad only once its subject is known: "revenue fell" is bad, "costs fell" good,
"net loss narrowed" good. A direction bound to a nearby subject scores
`strength × subject polarity`; one with no subject in reach scores its `alone` weight
(price talk: "shares fell" reads as bad without naming the shares).
"""

from __future__ import annotations

from typing import NamedTuple

from core.analysis.lexicon_terms import words


class Direction(NamedTuple):
    """`strength` is signed (+ up, − down); `alone` is the weight with no subject in reach."""

    strength: float
    alone: float


def _up(strength: float, alone: float | None = None) -> Direction:
    return Direction(strength, strength if alone is None else alone)


def _down(strength: float, alone: float | None = None) -> Direction:
    return Direction(-strength, -strength if alone is None else -alone)


# English keys are stemmed like every lexicon phrase ("rise" matches rises, rising).
EN_DIRECTIONS: dict[str, Direction] = {
    "rise": _up(1.0, 0.5),
    "rose": _up(1.0, 0.5),
    "risen": _up(1.0, 0.5),
    "increase": _up(1.0, 0.5),
    "grow": _up(1.0, 0.5),
    "grew": _up(1.0, 0.5),
    "gain": _up(1.0, 0.75),
    "climb": _up(1.0, 0.75),
    "advance": _up(1.0, 0.5),
    "higher": _up(1.0, 0.5),
    "jump": _up(1.5, 1.0),
    "leap": _up(1.5, 1.0),
    "surge": _up(1.5),
    "soar": _up(1.5),
    "skyrocket": _up(2.0),
    "spike": _up(1.5, 0.5),
    "double": _up(1.5, 1.0),
    "tripl": _up(1.5, 1.0),
    "boost": _up(1.0),
    "lift": _up(1.0, 0.75),
    "raise": _up(1.0, 0.5),
    "hike": _up(1.0, 0.0),
    "up": _up(1.0, 0.75),
    "top": _up(1.0, 0.0),  # "tops Q3 earnings estimates"
    "ramp": _up(1.0, 0.0),
    "ramp up": _up(1.0, 0.5),
    "create": _up(1.0, 0.0),
    "perk up": _up(1.0),
    "tick up": _up(0.75, 0.5),
    "expand": _up(1.0, 0.5),
    "widen": _up(1.0, 0.0),
    "balloon": _up(1.5, 0.0),
    "pile up": _up(1.0, 0.0),
    "fall": _down(1.0),
    "fell": _down(1.0),
    "fallen": _down(1.0),
    "drop": _down(1.0),
    "dropped": _down(1.0),
    "decline": _down(1.0),
    "decrease": _down(1.0, 0.5),
    "dip": _down(0.75, 0.5),
    "slip": _down(0.75, 0.5),
    "slipped": _down(0.75, 0.5),
    "dipped": _down(0.75, 0.5),
    "slid": _down(1.0),
    "slide": _down(1.0),
    "slump": _down(1.5),
    "plunge": _down(2.0),
    "plummet": _down(2.0),
    "tumble": _down(1.5),
    "sink": _down(1.5),
    "sank": _down(1.5),
    "tank": _down(1.5),
    "crash": _down(2.0),
    "shrink": _down(1.0, 0.5),
    "shrank": _down(1.0, 0.5),
    "contract": _down(1.0, 0.0),
    "lower": _down(1.0, 0.5),
    "cut": _down(1.0, 0.5),
    "cutting": _down(1.0, 0.5),
    "slash": _down(1.5, 1.0),
    "trim": _down(0.75, 0.5),
    "trimmed": _down(0.75, 0.5),
    "reduce": _down(1.0, 0.0),
    "halve": _down(1.5, 1.0),
    "narrow": _down(1.0, 0.0),
    "narrower": _down(1.0, 0.0),
    "down": _down(1.0, 0.75),
    "shy of": _down(1.0, 0.0),  # "revenue shy of guidance"
    "short of": _down(1.0, 0.0),
    "tick down": _down(0.75, 0.5),
    "shed": _down(1.0, 0.5),
}

# "up" and "down" are directions only before an amount or one of these ("up 5%", "down from").
EN_UPDOWN_FOLLOWERS = frozenset(
    ("from", "by", "over", "nearly", "about", "almost", "more", "sharp")
)

# What moves, and whether up is good (+1) or bad (−1) for the company or market that has it.
EN_SUBJECTS: dict[str, int] = {
    **dict.fromkeys(
        words(
            "revenue, sales, turnover, profit, profits, earnings, income, net income,"
            " operating income, operating profit, pretax profit, ebitda, eps, margin, margins,"
            " dividend, payout, orders, bookings, backlog, deliveries, shipments, demand,"
            " market share, guidance, outlook, forecast, view, target, price target, estimate,"
            " estimates, production, output, volume, traffic, passengers, subscribers, users,"
            " customers, jobs, payrolls, hiring, employment, cash flow, free cash flow, nav,"
            " asset value, assets under management, inflows, savings, valuation, stake,"
            " buyback, rating, ratings, investment, exports, expectations, consensus, forecasts"
        ),
        1,
    ),
    **dict.fromkeys(
        words(
            "loss, losses, net loss, operating loss, pretax loss, deficit, debt, cost, costs,"
            " expenses, spending, fuel bill, fuel cost, fuel costs, charges, writedowns,"
            " impairments, provisions, outflows, redemptions, unemployment, jobless,"
            " jobless claims, layoffs, delinquencies, defaults, churn, inventories, inventory,"
            " borrowing, leverage, headcount, short interest, emissions, competition,"
            " production costs, operating costs, labour costs, labor costs, input costs,"
            " funding costs, unit costs"
        ),
        -1,
    ),
}

# Korean: substrings, matched like the other Korean terms; the subject comes first ("손실 줄어").
KO_DIRECTIONS: dict[str, Direction] = {
    **dict.fromkeys(
        ("늘어", "늘었", "늘려", "늘렸", "늘린", "늘리", "늘며", "늘고"), _up(1.0, 0.5)
    ),
    **dict.fromkeys(("올려", "올렸", "올린", "올리"), _up(1.0, 0.75)),
    **dict.fromkeys(("올랐", "오른", "오르"), _up(1.0, 0.75)),
    **dict.fromkeys(("높여", "높였", "높인"), _up(1.0, 0.5)),
    "증가": _up(1.0, 0.75),
    "급증": _up(1.5),
    "확대": _up(1.0, 0.5),
    "상향": _up(1.0),
    "상승": _up(1.0),
    "껑충": _up(1.5),
    "뛰었": _up(1.0),
    "뛰어": _up(1.0),
    "두 배": _up(1.5, 1.0),
    "2배": _up(1.5, 1.0),
    "눈덩이": _up(1.5, 0.0),
    "웃돌": _up(1.0),
    "돌파": _up(1.0, 0.75),
    "누적": _up(1.0, 0.0),
    **dict.fromkeys(
        ("줄어", "줄었", "줄여", "줄였", "줄인", "줄이", "줄며", "줄고"), _down(1.0, 0.5)
    ),
    **dict.fromkeys(("낮춰", "낮췄", "낮춘", "낮추"), _down(1.0, 0.75)),
    **dict.fromkeys(("내려", "내린", "내렸"), _down(1.0, 0.75)),
    "감소": _down(1.0, 0.75),
    "급감": _down(1.5),
    "축소": _down(1.0, 0.5),
    "하향": _down(1.0),
    "하락": _down(1.0),
    "떨어": _down(1.0, 0.75),
    "반토막": _down(2.0),
    "반 토막": _down(2.0),
    "곤두박질": _down(2.0),
    "고꾸라": _down(1.5),
    "추락": _down(1.5),
    "미끄러": _down(1.0),
    "뒷걸음": _down(1.0),
    "증발": _down(1.5),
    "밑돌": _down(1.0),
}

KO_SUBJECTS: dict[str, int] = {
    **dict.fromkeys(
        words(
            "매출, 영업이익, 순이익, 이익, 실적, 주가, 목표가, 목표주가, 배당, 배당금, 수주,"
            " 점유율, 수출, 판매, 수요, 가동률, 시총, 시가총액, 이익률, 마진, 투자의견,"
            " 주주환원, 고용, 일자리"
        ),
        1,
    ),
    **dict.fromkeys(
        words(
            "손실, 영업손실, 순손실, 적자, 적자폭, 적자 폭, 비용, 부채, 원가, 부담, 재고,"
            " 연체율, 실업, 부실, 충당금"
        ),
        -1,
    ),
}

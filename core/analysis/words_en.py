"""English finance sentiment terms for the lexicon analyzer, written for stockray.

Keys are words or space-separated phrases in plain form; the analyzer stems both sides, so
"jump" also matches "jumps", "jumped" and "jumping". Weights: ±0.5 weak, ±1 clear, ±2 strong.
"""

from __future__ import annotations

from core.analysis.lexicon_terms import words

POSITIVE: dict[str, float] = {
    # results against expectations
    "beat": 1.0,
    "beat estimates": 2.0,
    "beat expectations": 2.0,
    "beat forecasts": 2.0,
    "top estimates": 2.0,
    "top expectations": 2.0,
    "exceed": 1.5,
    "meet estimates": 1.0,
    "meet expectations": 1.0,
    "meet forecasts": 1.0,
    "better than expected": 1.5,
    "earnings surprise": 1.5,
    "record profit": 2.0,
    "record revenue": 2.0,
    "record high": 1.5,
    "all-time high": 1.5,
    "profitable": 1.0,
    "narrower loss": 1.0,
    # a loss that turned into a profit; the reverse is in NEGATIVE
    "swing to profit": 2.0,
    "swing to a profit": 2.0,
    "swung to profit": 2.0,
    "swung to a profit": 2.0,
    "swing into profit": 2.0,
    "swung into profit": 2.0,
    "return to profit": 2.0,
    "returned to profit": 2.0,
    "back to profit": 1.5,
    "back in the black": 1.5,
    "into the black": 1.5,
    "turn profitable": 1.5,
    "turned profitable": 1.5,
    "turn a profit": 1.5,
    "turned a profit": 1.5,
    "margin expansion": 1.5,
    # guidance and outlook
    "raise outlook": 2.0,
    "raise guidance": 2.0,
    "raise forecast": 2.0,
    "lift guidance": 2.0,
    "raise full year outlook": 2.0,
    "raise full year guidance": 2.0,
    "upbeat": 1.5,
    "bullish": 1.5,
    "optimistic": 1.0,
    "optimism": 1.0,
    "tailwind": 1.0,
    "strong demand": 1.5,
    "demand accelerate": 1.5,
    "accelerate": 1.0,
    # price action
    "rally": 1.0,
    "rallied": 1.0,
    "rebound": 1.0,
    "outperform": 1.5,
    # analysts and capital returns
    "upgrade": 1.5,
    "upgrade to buy": 2.0,
    "buy rating": 1.5,
    "overweight": 1.0,
    "price target raised": 1.5,
    "raise price target": 1.5,
    "buyback": 1.0,
    "share repurchase": 1.0,
    "raise dividend": 1.5,
    "dividend increase": 1.5,
    # business wins
    "win": 1.0,
    "won": 1.0,
    "award": 0.75,
    "approval": 1.0,
    "approve": 0.75,
    "breakthrough": 1.5,
    "partnership": 0.5,
    "strong": 1.0,
    "stronger": 1.0,
    "strength": 0.75,
    "robust": 1.0,
    "solid": 0.75,
    "growth": 0.5,
    "expansion": 0.5,
    "recovery": 1.0,
    "recover": 1.0,
    "improve": 0.75,
    "improvement": 0.75,
    "cheer": 1.0,
    "positive": 0.75,
    "rate cut": 0.5,
    "winning": 1.0,
    "top forecast": 2.0,
    "top consensus": 2.0,
    "top guidance": 2.0,
    "top view": 2.0,
    # analysts' calls ("cut to Hold" is in NEGATIVE)
    **dict.fromkeys(
        words(
            "upped to buy, raise to buy, raise to outperform, raise to overweight, start at buy,"
            " start at outperform, start at overweight, initiate at buy, initiate at outperform,"
            " initiate at overweight, reiterate buy, top pick, bull case, buy signal, buy the dip,"
            " buy dip, soft landing"
        ),
        1.5,
    ),
    # market and trader talk (news, StockTwits, finance tweets)
    **dict.fromkeys(
        words(
            "breakout, break out, upside, undervalued, go long, went long, long setup,"
            " go up, move up, take off, year high, week high, gainers, winners, winner, healthy,"
            " love, accumulation, accumulate,"
            " buy point, new high, record close, bull, bulls, boom, booming, rosy, resilient,"
            " resilience, thrive, strengthen, outpace, victory, success, successful, promising,"
            " confident, great, excellent, outstanding, impressive, blockbuster, best"
        ),
        1.0,
    ),
    **dict.fromkeys(
        words(
            "good, nice, bounce, benefit, inflows, momentum, support, clear, nod, buy, agree,"
            " agreement, favorite, oversold, pop, record, long, hope, hopes"
        ),
        0.5,
    ),
}

NEGATIVE: dict[str, float] = {
    # results against expectations
    "miss": 1.5,
    "miss estimates": 2.0,
    "miss expectations": 2.0,
    "miss forecasts": 2.0,
    "worse than expected": 1.5,
    "fall short": 1.5,
    "profit warning": 2.0,
    "net loss": 1.5,
    "swing to loss": 2.0,
    "swing to a loss": 2.0,
    "swung to loss": 2.0,
    "swung to a loss": 2.0,
    "swing into loss": 2.0,
    "swung into loss": 2.0,
    "swung into the red": 2.0,
    "into the red": 1.5,
    "in the red": 1.0,
    "wider loss": 1.5,
    "loss": 1.0,
    "record low": 1.5,
    "margin pressure": 1.5,
    "disappoint": 1.5,
    "disappointment": 1.5,
    "weak": 1.0,
    "weaker": 1.0,
    "weakness": 1.0,
    "weak demand": 1.5,
    "slow": 0.75,
    "slowdown": 1.0,
    "slowing growth": 1.5,
    # guidance and outlook
    "cut guidance": 2.0,
    "cut outlook": 2.0,
    "cut forecast": 2.0,
    "lower guidance": 2.0,
    "lower outlook": 2.0,
    "bearish": 1.5,
    "pessimistic": 1.0,
    "headwind": 1.0,
    "concern": 1.0,
    "worry": 1.0,
    "fear": 1.0,
    "warn": 1.0,
    "warning": 1.0,
    "uncertainty": 0.5,
    "risk": 0.5,
    "setback": 1.0,
    "pressure": 0.5,
    "weigh on": 1.0,
    "downturn": 1.0,
    "recession": 1.5,
    # price action
    "sell off": 1.5,
    "selloff": 1.5,
    "underperform": 1.5,
    # analysts
    "downgrade": 1.5,
    "downgrade to sell": 2.0,
    "sell rating": 1.5,
    "underweight": 1.0,
    "price target cut": 1.5,
    "cut price target": 1.5,
    # legal, regulatory, operations
    "probe": 1.0,
    "investigation": 1.0,
    "lawsuit": 1.5,
    "sue": 1.5,
    "sued": 1.5,
    "sues": 1.5,
    "fined": 1.5,
    "penalty": 1.0,
    "fraud": 2.0,
    "scandal": 1.5,
    "antitrust": 0.5,
    "infringement": 0.5,
    "recall": 1.5,
    "complaint": 1.0,
    "defect": 1.0,
    "disruption": 1.0,
    "shortage": 1.0,
    "outage": 1.0,
    "halt": 1.0,
    "suspend": 1.0,
    "delay": 1.0,
    "layoff": 1.0,
    "job cuts": 1.0,
    "bankruptcy": 2.0,
    "default": 1.5,
    "impairment": 1.0,
    "writedown": 1.0,
    "dividend cut": 1.5,
    "negative": 0.75,
    **dict.fromkeys(
        words(
            "cut to hold, cut to sell, cut to neutral, cut to underweight, cut to equal weight,"
            " cut to market perform, cut to sector perform, cut to underperform, cut to in line,"
            " start at sell, start at underperform, start at underweight, bear case, bear raid,"
            " bear market, death knell, meltdown, worst, sell signal, crush"
        ),
        1.5,
    ),
    **dict.fromkeys(
        words(
            "downside, shorting, overvalued, bear, bears, lose, lost, struggle, trouble,"
            " troubles, hurt, harm, damage, suffer, woe, woes, pain, crisis, collapse, jail,"
            " jailed, guilty, accuse, allegation, allegations, closure, abandon, pull the plug,"
            " skepticism, doubt, soft, lag, rejection, breach, hack, hackers, rout, turmoil,"
            " panic, deteriorate, deterioration, stagnant, bleak, bleaker, gloomy, grim,"
            " delist, contraction, outflows, bad, ugly, terrible, failure, axe, lay off, dump,"
            " breakdown, go down, bleed, beaten down, year low, week low, losers, loser, doom,"
            " hard landing"
        ),
        1.0,
    ),
    **dict.fromkeys(
        words(
            "short, caution, cautious, correction, volatility, shut, overbought, pullback,"
            " pull back"
        ),
        0.5,
    ),
}

# Phrases that look sentimental word by word but are not; matched and ignored.
NEUTRAL: tuple[str, ...] = (
    "little changed",
    "in line",
    "not only",
    "no change",
    "ahead of",
    # the old rating in "downgraded to hold from buy" is not the news
    "from buy",
    "from outperform",
    "from overweight",
    "from underweight",
    "from underperform",
    "from sell",
    "capital gain",
    "stop loss",
    "weight loss",
    "long term",
    "as long as",
    "long way",
    "for long",
    "how long",
    "long time",
    "long running",
    "short term",
    "campaign rally",
)

# A word in another sense when one of these comes right before it (first set) or right after
# it (second set): "the concern said", "growth markets", "industrial concern".
OTHER_SENSES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "concern": (
        frozenset(
            (
                "german", "french", "swiss", "dutch", "italian", "japanese", "korean", "chinese",
                "industrial", "engineering", "chemicals", "chemical", "steel", "family", "retail",
                "media", "energy", "auto", "car", "mining", "drug", "pharmaceutical", "insurance",
                "banking", "telecom", "telecoms", "electronics", "going",
            )
        ),
        frozenset(
            (
                "said", "says", "reported", "reports", "announced", "expects", "plans", "posted",
                "added", "which",
            )
        ),
    ),
    "growth": (
        frozenset(),
        frozenset(
            (
                "market", "markets", "stock", "stocks", "fund", "funds", "strategy", "strategies",
                "plan", "plans", "target", "targets", "investor", "investors", "investing",
                "equity", "capital", "company", "companies", "sector", "sectors", "rate", "rates",
                "driver", "drivers", "engine", "area", "areas", "segment", "segments", "names",
                "style",
            )
        ),
    ),
    "gain": (frozenset(("capital",)), frozenset(("tax", "taxes"))),
    "best": (frozenset(), frozenset(("buy",))),  # the retailer
}  # fmt: skip

# Words whose stem collides with a sentiment word's: "goods" is not "good", "wine" not "win".
HOMOGRAPHS: frozenset[str] = frozenset(("goods", "wine", "wines"))

# Words that end the search for a direction's subject after it: "jump after earnings".
SUBJECT_STOPS: tuple[str, ...] = (
    "after", "on", "as", "amid", "despite", "but", "while", "and", "or", "for", "with",
    "from", "than", "over", "into", "at", "by", "to", "since", "though", "because",
)  # fmt: skip

INTENSIFIERS: dict[str, float] = {
    "sharply": 1.5,
    "sharp": 1.5,
    "significantly": 1.5,
    "significant": 1.5,
    "substantially": 1.5,
    "strongly": 1.5,
    "dramatically": 1.75,
    "steep": 1.5,
    "steeply": 1.5,
    "massive": 1.5,
    "major": 1.25,
    "deeply": 1.5,
    "heavily": 1.5,
    "very": 1.25,
    "slightly": 0.5,
    "modestly": 0.5,
    "marginally": 0.5,
    "somewhat": 0.6,
    "mildly": 0.6,
}

NEGATORS: tuple[str, ...] = (
    "not",
    "no",
    "never",
    "without",
    "nor",
    "neither",
    "none",
    "hardly",
    "cannot",
    "fail to",
    "unable to",
    "lack",
    "absence of",
    # verbs that undo the trouble that follows them: "court dismisses lawsuit", "eases fears"
    "dismiss",
    "dismissal of",
    "ease",
    "allay",
    "dispel",
)

# "n't" written without its apostrophe, as headlines and social posts often do.
CONTRACTIONS: tuple[str, ...] = (
    "dont",
    "didnt",
    "doesnt",
    "isnt",
    "wasnt",
    "arent",
    "werent",
    "wont",
    "cant",
    "couldnt",
    "wouldnt",
    "hasnt",
    "havent",
    "hadnt",
)

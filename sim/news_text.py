"""Headline and body templates for simulated news, in English and Korean, by true sentiment.

Each headline is (template, topic); `{name}` is the company, the other fields are filled from
the pools below. The topic feeds Alpha Vantage's `topics` field.
"""

from __future__ import annotations

HEADLINES: dict[str, dict[str, list[tuple[str, str]]]] = {
    "en": {
        "positive": [
            ("{name} shares jump {pct}% after earnings beat estimates", "Earnings"),
            ("{name} raises full-year outlook as demand accelerates", "Earnings"),
            ("{name} unveils new {product}; analysts turn bullish", "Technology"),
            ("{name} stock hits record high on strong {product} sales", "Financial Markets"),
            ("Analysts upgrade {name} to buy, citing margin expansion", "Financial Markets"),
            ("{name} announces ${amount} billion share buyback", "Finance"),
            ("{name} wins major {product} contract with {partner}", "Technology"),
        ],
        "negative": [
            ("{name} shares slide {pct}% as guidance disappoints", "Earnings"),
            ("{name} faces regulatory probe over {issue}", "Economy - Policy"),
            ("{name} recalls {product} after customer complaints", "Technology"),
            ("{name} misses revenue estimates amid weak demand", "Earnings"),
            ("Analysts downgrade {name} on slowing growth", "Financial Markets"),
            ("{name} hit by supply chain disruption in {region}", "Manufacturing"),
            ("{name} sued by {partner} over {issue}", "Economy - Policy"),
        ],
        "neutral": [
            ("{name} to report quarterly results on {weekday}", "Earnings"),
            ("{name} schedules annual shareholder meeting", "Finance"),
            ("{name} names new chief financial officer", "Finance"),
            ("What to watch in {name}'s earnings next week", "Earnings"),
            ("{name} shares little changed ahead of Fed decision", "Financial Markets"),
            ("{name} opens new office in {city}", "Technology"),
        ],
    },
    "ko": {
        "positive": [
            ("{name}, {quarter}분기 영업이익 급증", "Earnings"),
            ("{name}, 사상 최대 실적 경신…주가 {pct}% 상승", "Earnings"),
            ("{name}, 신규 {product} 공개…증권가 '매수' 의견", "Technology"),
            ('{name} 목표주가 상향…"업황 회복 본격화"', "Financial Markets"),
            ("{name}, 대규모 자사주 매입 결정", "Finance"),
            ("{name}, {partner}와 {product} 공급 계약 체결", "Technology"),
        ],
        "negative": [
            ("{name}, {quarter}분기 실적 부진…주가 {pct}% 하락", "Earnings"),
            ("{name}, 공정위 조사 착수에 투자심리 위축", "Economy - Policy"),
            ('{name} 목표주가 하향…"수요 둔화 우려"', "Financial Markets"),
            ("{name}, {product} 리콜 결정…손실 우려 확산", "Technology"),
            ("외국인 매도세에 {name} 약세", "Financial Markets"),
            ("{name}, {region} 공장 가동 중단…공급 차질", "Manufacturing"),
        ],
        "neutral": [
            ("{name}, {quarter}분기 실적 발표 일정 공개", "Earnings"),
            ("{name}, 정기 주주총회 개최", "Finance"),
            ("{name}, 신임 사외이사 선임", "Finance"),
            ("{name} 주가 보합…관망세 지속", "Financial Markets"),
            ("{name}, {city}에 신규 사무소 개설", "Technology"),
        ],
    },
}

LEADS: dict[str, dict[str, list[str]]] = {
    "en": {
        "positive": [
            "Investors cheered the news, sending the stock higher in early trading.",
            "Analysts said the results point to a stronger second half.",
        ],
        "negative": [
            "The news weighed on the shares as investors reassessed the outlook.",
            "Analysts warned that the setback could pressure margins.",
        ],
        "neutral": [
            "The company did not give further details.",
            "Analysts expect little change to their forecasts.",
        ],
    },
    "ko": {
        "positive": [
            "투자자들은 이번 소식에 긍정적으로 반응했다.",
            "증권가는 하반기 실적 개선이 본격화될 것으로 내다봤다.",
        ],
        "negative": [
            "이번 소식에 투자심리가 위축되며 주가가 약세를 보였다.",
            "증권가는 수익성 악화 가능성을 경고했다.",
        ],
        "neutral": [
            "회사 측은 구체적인 내용은 밝히지 않았다.",
            "증권가는 실적 전망에 큰 변화가 없을 것으로 봤다.",
        ],
    },
}

FILLER = {
    "en": "The company's shares have been closely watched by investors this year. "
    "Market participants are looking for further details on strategy and capital "
    "spending, while analysts continue to debate valuation. ",
    "ko": "올해 들어 회사 주가는 투자자들의 높은 관심을 받아왔다. 시장 참여자들은 향후 전략과 "
    "설비투자 계획에 주목하고 있으며, 증권가에서는 적정 주가를 두고 의견이 엇갈린다. ",
}

POOLS: dict[str, dict[str, list[str]]] = {
    "en": {
        "product": [
            "AI accelerator",
            "smartphone",
            "cloud platform",
            "memory chip",
            "data-center GPU",
            "laptop lineup",
            "software suite",
        ],
        "partner": ["a major automaker", "a European carrier", "the Pentagon", "a cloud giant"],
        "issue": ["antitrust practices", "data privacy", "patent infringement", "pricing"],
        "region": ["Asia", "Europe", "Mexico", "Taiwan"],
        "city": ["London", "Tokyo", "Austin", "Singapore", "Berlin"],
        "weekday": ["Tuesday", "Wednesday", "Thursday"],
    },
    "ko": {
        "product": ["HBM 메모리", "폴더블 스마트폰", "AI 반도체", "서버용 D램", "파운드리 공정"],
        "partner": ["엔비디아", "애플", "현대차", "구글"],
        "issue": ["담합 의혹", "개인정보 유출", "특허 침해"],
        "region": ["중국", "베트남", "미국", "평택"],
        "city": ["싱가포르", "실리콘밸리", "런던", "도쿄"],
        "weekday": ["화요일", "수요일", "목요일"],
    },
}

# (source id or None, name, domain) as NewsAPI names them.
# (source id or None, name, host) as NewsAPI names them.
OUTLETS: dict[str, list[tuple[str | None, str, str]]] = {
    "en": [
        ("reuters", "Reuters", "www.reuters.com"),
        ("bloomberg", "Bloomberg", "www.bloomberg.com"),
        ("cnbc", "CNBC", "www.cnbc.com"),
        (None, "MarketWatch", "www.marketwatch.com"),
        ("the-verge", "The Verge", "www.theverge.com"),
        (None, "Benzinga", "www.benzinga.com"),
        ("business-insider", "Business Insider", "www.businessinsider.com"),
        (None, "Motley Fool", "www.fool.com"),
    ],
    "ko": [
        (None, "연합뉴스", "www.yna.co.kr"),
        (None, "한국경제", "www.hankyung.com"),
        (None, "매일경제", "www.mk.co.kr"),
        (None, "조선비즈", "biz.chosun.com"),
        (None, "머니투데이", "news.mt.co.kr"),
        (None, "서울경제", "www.sedaily.com"),
    ],
}

AUTHORS = {
    "en": ["Jane Doe", "John Smith", "Priya Patel", "Carlos Mendez", "Emily Chen", None],
    "ko": ["김민수 기자", "이서연 기자", "박지훈 기자", "최유진 기자", None],
}

TRACKING = [
    "utm_source=x&utm_medium=social",
    "utm_source=newsletter&utm_medium=email",
    "utm_source=yahoo&utm_medium=referral",
    "utm_source=feedly",
]

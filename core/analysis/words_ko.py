"""Korean finance sentiment stems for the lexicon analyzer, written for stockray.

Korean attaches particles and endings to stems, so terms are matched as substrings of the
text (longest first): "상승" also matches "상승세", "상승했다", "상승으로".
"""

from __future__ import annotations

POSITIVE: dict[str, float] = {
    # results
    "호실적": 1.5,
    "최대 실적": 1.5,
    "사상 최대": 1.0,
    "어닝 서프라이즈": 2.0,
    "깜짝 실적": 1.5,
    "흑자": 1.0,
    "흑자 전환": 1.5,
    "적자 축소": 1.0,
    "손실 축소": 1.0,
    "상회": 1.0,
    "기대 이상": 1.5,
    "호조": 1.5,
    "개선": 1.0,
    "회복": 1.0,
    "성장": 0.5,
    # price action
    "급등": 1.5,
    "반등": 1.0,
    "강세": 1.0,
    "신고가": 1.5,
    "최고치": 1.0,
    "오름세": 0.75,
    # analysts and capital returns
    "매수": 0.5,
    "순매수": 1.0,
    "자사주 매입": 1.5,
    "자사주 소각": 1.5,
    "배당 확대": 1.5,
    "증액": 0.75,
    # business
    "계약 체결": 1.0,
    "공급 계약": 1.0,
    "수주": 1.0,
    "수혜": 1.0,
    "호재": 1.5,
    "긍정": 1.0,
    "낙관": 1.0,
    "기대감": 0.5,
    "훈풍": 1.0,
    "승인": 0.75,
    "허가": 1.0,
    "허가 획득": 1.5,
    "적자 탈출": 1.5,
    "상한가": 1.5,
    "최고": 0.75,
    "최대": 0.5,
    "견조": 1.0,
    "탈환": 1.0,
    "흥행": 1.0,
    "주주환원": 1.0,
    "기술이전": 1.0,
    "기술수출": 1.0,
    "준공": 0.5,
}

NEGATIVE: dict[str, float] = {
    # results
    "부진": 1.5,
    "어닝 쇼크": 2.0,
    "적자": 1.0,
    "적자 전환": 1.5,
    "적자 확대": 1.5,
    "손실": 1.0,
    "손실 확대": 1.5,
    "하회": 1.0,
    "못 미": 1.5,
    "악화": 1.5,
    "둔화": 1.0,
    "역성장": 1.5,
    "침체": 1.5,
    # price action
    "급락": 1.5,
    "폭락": 2.0,
    "약세": 1.0,
    "신저가": 1.5,
    "매도세": 1.0,
    "순매도": 1.0,
    # analysts and sentiment
    "위축": 1.0,
    "우려": 1.0,
    "경고": 1.0,
    "악재": 1.5,
    "비관": 1.0,
    "부정적": 1.0,
    "불확실성": 0.75,
    "불안": 0.75,
    "충격": 1.0,
    "타격": 1.0,
    "부담": 0.5,
    # legal, regulatory, operations
    "소송": 1.5,
    "피소": 1.5,
    "제재": 1.5,
    "과징금": 1.5,
    "벌금": 1.0,
    "조사 착수": 1.0,
    "압수수색": 1.5,
    "의혹": 1.0,
    "담합": 1.0,
    "유출": 1.0,
    "침해": 0.5,
    "리콜": 1.5,
    "결함": 1.0,
    "차질": 1.0,
    "가동 중단": 1.0,
    "중단": 0.75,
    "파업": 1.0,
    "감원": 1.0,
    "구조조정": 0.75,
    "부도": 2.0,
    "파산": 2.0,
    "워크아웃": 2.0,
    "법정관리": 2.0,
    "영업정지": 1.5,
    "구속": 1.5,
    # a plan or approval that fell through: "허가 불발", "임상 실패"
    "불발": 2.0,
    "무산": 2.0,
    "좌절": 1.5,
    "실패": 1.5,
    "거부": 1.0,
    "철회": 1.0,
    "지연": 1.0,
    "하한가": 1.5,
    "최저": 1.0,
    "붕괴": 1.5,
    "폭탄": 1.0,
    "피해": 1.0,
    "사고": 1.0,
    "화재": 1.0,
    "분쟁": 1.0,
    "출렁": 0.5,
    "울상": 1.0,
    "이탈": 0.75,
}

# Stems that look sentimental but are not; matched and ignored.
NEUTRAL: tuple[str, ...] = (
    "보합",
    "관망",
)

# Words shortly before a term that scale it.
INTENSIFIERS: dict[str, float] = {
    "크게": 1.5,
    "대폭": 1.5,
    "큰 폭": 1.5,
    "대규모": 1.5,
    "역대": 1.25,
    "급격히": 1.5,
    "소폭": 0.5,
    "다소": 0.6,
    "약간": 0.5,
}

# Negation that follows a term in the same clause ("-지 않", "없다", "아니다", "-지 못").
# "해소"/"불식" (resolved, dispelled) undo a worry the same way.
POST_NEGATORS: tuple[str, ...] = ("않", "없", "아니", "못", "해소", "불식")
# Short negation right before a verb term ("안 올랐다", "못 올랐다").
PRE_NEGATORS: tuple[str, ...] = ("안 ", "못 ")

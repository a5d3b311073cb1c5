"""A deterministic finance sentiment lexicon for English and Korean news, negation-aware.

The LLM gateway's fallback when no endpoint is configured or the daily budget is spent: pure
Python, precompiled tables, results marked `method="lexicon"` with the matched terms as `hits`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from core.analysis import directions, words_en, words_ko
from core.errors import StockrayError
from core.models import Article

SUPPORTED_LANGUAGES = ("en", "ko")

NEUTRAL_BAND = 0.15  # |score| below this is neutral: one weak term alone still counts
ALPHA = 1.5  # squash x/(|x|+ALPHA): one clear term (±1) scores ±0.4, a strong one ±0.57
NEGATION_FACTOR = -0.75  # "did not beat" is negative, but weaker than an outright "missed"
TITLE_WEIGHT = 2.0  # headlines state the news; summaries pad it
EN_NEGATION_TOKENS = 3  # a negator reaches this many tokens ahead
EN_BOOST_TOKENS = 2  # an intensifier reaches the term right after it, or one word later
KO_NEGATION_CHARS = 10  # "-지 않았다", "우려는 없다": the negation follows within a few syllables
KO_BOOST_CHARS = 8


class UnsupportedText(StockrayError, ValueError):
    """Empty text or a language the lexicon has no words for; callers skip and count it."""

    def __init__(self, reason: str, language: str | None = None) -> None:
        super().__init__(f"{reason} (language={language!r})" if language else reason)
        self.reason = reason
        self.language = language


@dataclass(frozen=True, slots=True)
class LexiconScore:
    """A sentiment in [-1, 1], its label, and the terms that produced it."""

    score: float
    label: str  # "positive" | "negative" | "neutral"
    hits: tuple[str, ...]
    language: str
    method: str = "lexicon"


def score_text(text: str, language: str | None = None) -> LexiconScore:
    """Score one text; `language` ("en", "ko", "en-US"…) is detected from the script if None."""
    lang = _resolve_language(text, language)
    total, hits = _ANALYSERS[lang](text)
    return _result(total, hits, lang)


def score_article(article: Article) -> LexiconScore:
    """Score an article's title (weighted TITLE_WEIGHT) and summary together."""
    title = (article.title or "").strip()
    summary = (article.summary or "").strip()
    if title and summary.startswith(title):  # feeds often repeat the headline as the lead
        summary = summary[len(title) :].lstrip(" .…:-")
    lang = _resolve_language(f"{title} {summary}", article.language or None)
    analyse = _ANALYSERS[lang]
    title_total, title_hits = analyse(title)
    summary_total, summary_hits = analyse(summary)
    total = TITLE_WEIGHT * title_total + summary_total
    return _result(total, title_hits + summary_hits, lang)


def label_of(score: float) -> str:
    """positive / negative / neutral for a lexicon score."""
    if score >= NEUTRAL_BAND:
        return "positive"
    return "negative" if score <= -NEUTRAL_BAND else "neutral"


def accuracy(pairs: Iterable[tuple[str, str]]) -> float:
    """Share of (predicted label, true label) pairs that agree; the `lexicon_accuracy` figure."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("accuracy of no pairs")
    return sum(predicted == truth for predicted, truth in pairs) / len(pairs)


def detect_language(text: str) -> str:
    """ "ko" when Hangul is a fair share of the letters, "en" when Latin dominates."""
    hangul = latin = other = 0
    for ch in text:
        if "\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e":
            hangul += 1
        elif ch.isascii() and ch.isalpha():
            latin += 1
        elif ch.isalpha():
            other += 1
    letters = hangul + latin + other
    if not letters:
        raise UnsupportedText("no letters to score")
    # Korean news carries Latin product names and tickers ("HBM", "SK하이닉스"): a low bar.
    if hangul / letters >= 0.2:
        return "ko"
    if latin / letters >= 0.6:
        return "en"
    raise UnsupportedText("script is neither Hangul nor Latin")


def _resolve_language(text: str, language: str | None) -> str:
    if not text or not text.strip():
        raise UnsupportedText("empty text", language)
    if language is None:
        return detect_language(text)
    lang = language.strip().lower().replace("_", "-").split("-")[0]
    if lang not in SUPPORTED_LANGUAGES:
        raise UnsupportedText("unsupported language", language)
    return lang


def _result(total: float, hits: tuple[str, ...], language: str) -> LexiconScore:
    score = round(total / (abs(total) + ALPHA), 4)
    return LexiconScore(score=score, label=label_of(score), hits=hits, language=language)


# --- English: stemmed tokens, longest phrase first, negation window over tokens ---------------

_TERM, _NEUTRAL, _NEGATOR, _BOOST = "term", "neutral", "negator", "boost"
_DIRECTION, _SUBJECT = "direction", "subject"
_SENTIMENT = (_TERM, _DIRECTION, _SUBJECT)
# A signed percentage ("+4%", "-11%") is one token; so is each word or number.
_EN_TOKEN = re.compile(r"(?<![\w.])[+-]\d+(?:\.\d+)?%|[a-z0-9]+(?:'[a-z]+)?", re.IGNORECASE)
# Clauses end at sentence punctuation or a comma followed by space ("3.5%" stays whole).
_EN_CLAUSE = re.compile(r"[.;:!?,…]+(?:\s|$)|\s[-–—]+\s")
_CONTRACTIONS = frozenset(words_en.CONTRACTIONS)
EN_SUBJECT_BEFORE = 3  # "net loss for the quarter narrowed": tokens between subject and verb
EN_SUBJECT_AFTER = 2  # "cut 370 jobs", "lower fuel bill"


class _Entry(NamedTuple):
    """A table entry: its kind, its weight (a term's, a subject's own, a direction's strength),
    a subject's polarity (+1 up is good, -1 up is bad) or a direction's weight with no subject."""

    kind: str
    weight: float
    extra: float = 0.0


class _Item(NamedTuple):
    start: int
    end: int
    entry: _Entry


def _stem(token: str) -> str:
    """A crude suffix stripper applied to text and lexicon alike, so only consistency matters."""
    if token.endswith("'s"):
        token = token[:-2]
    token = token.replace("'", "")
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if token.endswith(suffix) and not token.endswith("ss") and len(token) - len(suffix) >= 3:
            token = token[: len(token) - len(suffix)] + repl
            break
    if token.endswith("e") and len(token) > 3:
        token = token[:-1]
    return token


def _en_key(phrase: str) -> tuple[str, ...]:
    return tuple(_stem(t) for t in _EN_TOKEN.findall(phrase.lower()))


def _en_table() -> dict[tuple[str, ...], _Entry]:
    table: dict[tuple[str, ...], _Entry] = {}
    for phrase, weight in words_en.POSITIVE.items():
        table[_en_key(phrase)] = _Entry(_TERM, weight)
    for phrase, weight in words_en.NEGATIVE.items():
        table[_en_key(phrase)] = _Entry(_TERM, -weight)
    for phrase, direction in directions.EN_DIRECTIONS.items():
        table[_en_key(phrase)] = _Entry(_DIRECTION, direction.strength, direction.alone)
    for phrase, polarity in directions.EN_SUBJECTS.items():
        own = table.get(_en_key(phrase))  # "loss" alone is still bad news
        table[_en_key(phrase)] = _Entry(_SUBJECT, own.weight if own else 0.0, polarity)
    for phrase in words_en.NEUTRAL:
        table[_en_key(phrase)] = _Entry(_NEUTRAL, 0.0)
    for phrase in words_en.NEGATORS:
        table[_en_key(phrase)] = _Entry(_NEGATOR, 0.0)
    for phrase, factor in words_en.INTENSIFIERS.items():
        table[_en_key(phrase)] = _Entry(_BOOST, factor)
    return table


_EN_TABLE = _en_table()
_EN_MAX_PHRASE = max(len(k) for k in _EN_TABLE)
_EN_UPDOWN = frozenset((("up",), ("down",)))
_EN_STOPS = frozenset(words_en.SUBJECT_STOPS)


def _is_contraction(token: str) -> bool:
    return token.endswith("n't") or token in _CONTRACTIONS


def _is_title_case(text: str) -> bool:
    """Headline Title Case, where a capital says nothing about names."""
    words = re.findall(r"[A-Za-z]{4,}", text)
    return sum(w[0].isupper() for w in words) > len(words) / 2


def _analyse_en(text: str) -> tuple[float, tuple[str, ...]]:
    """Sum of signed, boosted, possibly negated term weights over the text's clauses."""
    total, hits = 0.0, []
    names = not _is_title_case(text)
    for clause in _EN_CLAUSE.split(text.replace("\u2019", "'")):
        cased = _EN_TOKEN.findall(clause)
        raw = [t.lower() for t in cased]
        items = _en_items(raw, [_stem(t) for t in raw], cased if names else None)
        clause_total, clause_hits = _score_en_items(items, raw)
        total += clause_total
        hits += clause_hits
    return total, tuple(hits)


def _match_en(stems: list[str], i: int) -> tuple[int, _Entry | None]:
    for length in range(min(_EN_MAX_PHRASE, len(stems) - i), 0, -1):
        entry = _EN_TABLE.get(tuple(stems[i : i + length]))
        if entry is not None:
            return length, entry
    return 1, None


def _other_sense(raw: list[str], i: int, cased: list[str] | None) -> bool:
    """A sentiment word used as a name ("Sue Smith"), a company ("the concern said")…"""
    sense = words_en.OTHER_SENSES.get(raw[i])
    before, after = raw[i - 1] if i else "", raw[i + 1] if i + 1 < len(raw) else ""
    if sense and (before in sense[0] or after in sense[1]):
        return True
    if cased is None or i == 0 or not cased[i][0].isupper() or cased[i].isupper():
        return False
    return any(0 < j < len(cased) and cased[j][0].isupper() for j in (i - 1, i + 1))


def _en_items(raw: list[str], stems: list[str], cased: list[str] | None) -> list[_Item]:
    """The clause's table matches, longest first; unmatched contractions become negators."""
    items, i = [], 0
    while i < len(stems):
        length, entry = _match_en(stems, i)
        end = i + length
        if entry is None and raw[i][0] in "+-":
            sign = -1.0 if raw[i][0] == "-" else 1.0
            entry = _Entry(_DIRECTION, sign, sign) if raw[i].strip("+-0.%") else None
        elif entry is None and _is_contraction(raw[i]):
            entry = _Entry(_NEGATOR, 0.0)
        elif entry is not None and tuple(stems[i:end]) in _EN_UPDOWN:
            follower = raw[end] if end < len(raw) else ""
            if not (follower[:1].isdigit() or follower in directions.EN_UPDOWN_FOLLOWERS):
                entry = None
        if entry and entry.kind in _SENTIMENT and length == 1 and _other_sense(raw, i, cased):
            entry = None
        if entry is not None:
            items.append(_Item(i, end, entry))
        i = end
    return items


def _subject_of(items: list[_Item], d: int, raw: list[str]) -> int | None:
    """The subject a direction moves: the nearest one just before it, else one just after."""
    for j in range(d - 1, -1, -1):
        if items[d].start - items[j].end > EN_SUBJECT_BEFORE or items[j].entry.kind == _DIRECTION:
            break
        if items[j].entry.kind == _SUBJECT:
            return j
    for j in range(d + 1, len(items)):
        between = raw[items[d].end : items[j].start]
        if len(between) > EN_SUBJECT_AFTER or _EN_STOPS.intersection(between):
            break
        if items[j].entry.kind == _DIRECTION:
            break
        if items[j].entry.kind == _SUBJECT:
            return j
    return None


def _score_en_items(items: list[_Item], raw: list[str]) -> tuple[float, list[str]]:
    """Directions take their subject's sign; then boosts and negation as for any term."""
    weights = {}
    for d, item in enumerate(items):
        if item.entry.kind == _DIRECTION:
            s = _subject_of(items, d, raw)
            if s is None:
                weights[d] = (item.entry.extra, " ".join(raw[item.start : item.end]))
            else:
                subject = items[s]
                weights[d] = (item.entry.weight * subject.entry.extra, _span(raw, subject, item))
                weights[s] = (0.0, "")
        elif item.entry.kind in (_TERM, _SUBJECT) and d not in weights:
            weights[d] = (item.entry.weight, " ".join(raw[item.start : item.end]))
    total, hits, used = 0.0, [], set()
    negate_until = boost_until = -1
    boost = 1.0
    for d, item in enumerate(items):
        if item.entry.kind == _NEGATOR:
            negate_until = item.end + EN_NEGATION_TOKENS
        elif item.entry.kind == _BOOST and d not in used:
            boost, boost_until = item.entry.weight, item.end + EN_BOOST_TOKENS - 1
        weight, hit = weights.get(d, (0.0, ""))
        if not weight:
            continue
        if item.start < boost_until:
            weight *= boost
            boost_until = -1
        after = items[d + 1] if d + 1 < len(items) else None
        if after and after.entry.kind == _BOOST and after.start == item.end:  # "fell sharply"
            weight *= after.entry.weight
            used.add(d + 1)
        negated = item.start < negate_until
        total += weight * NEGATION_FACTOR if negated else weight
        hits.append(("not " if negated else "") + hit)
    return total, hits


def _span(raw: list[str], a: _Item, b: _Item) -> str:
    first, second = sorted((a, b))
    return " ".join(raw[first.start : first.end] + raw[second.start : second.end])


# --- Korean: substring stems, longest first; negation follows the term in its clause ----------


def _ko_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """One alternation, longest first; a space in a term also matches no space ("자사주매입")."""
    ordered = sorted(set(terms), key=len, reverse=True)
    return re.compile("|".join(r"\s?".join(map(re.escape, t.split(" "))) for t in ordered))


_KO_WEIGHTS: dict[str, float] = {
    **{t.replace(" ", ""): w for t, w in words_ko.POSITIVE.items()},
    **{t.replace(" ", ""): -w for t, w in words_ko.NEGATIVE.items()},
    **{t.replace(" ", ""): 0.0 for t in words_ko.NEUTRAL},
}
_KO_TERMS = _ko_pattern([*words_ko.POSITIVE, *words_ko.NEGATIVE, *words_ko.NEUTRAL])
_KO_BOOSTS = {t.replace(" ", ""): f for t, f in words_ko.INTENSIFIERS.items()}
_KO_BOOST = _ko_pattern(words_ko.INTENSIFIERS)
_KO_POST_NEGATOR = re.compile("|".join(map(re.escape, words_ko.POST_NEGATORS)))
_KO_CLAUSE_END = re.compile(r"[.,!?…·\n\"'“”‘’]")


def _is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3"


def _ko_negated(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """A negator within a few syllables after the term (same clause, outside other terms)."""
    window = text[end : end + KO_NEGATION_CHARS]
    stop = _KO_CLAUSE_END.search(window)
    if stop:
        window = window[: stop.start()]
    for m in _KO_POST_NEGATOR.finditer(window):
        at = end + m.start()
        if not any(s <= at < e for s, e in spans):  # the 못 of "못 미치다" is a term, not a negator
            return True
    before = text[max(0, start - 3) : start]
    return any(
        before.endswith(neg) and (len(before) <= len(neg) or not _is_hangul(before[-len(neg) - 1]))
        for neg in words_ko.PRE_NEGATORS
    )


def _ko_boost(text: str, start: int) -> float:
    """The factor of the intensifier nearest before the term, if one is close."""
    boosts = list(_KO_BOOST.finditer(text[max(0, start - KO_BOOST_CHARS) : start]))
    if not boosts:
        return 1.0
    return _KO_BOOSTS[re.sub(r"\s", "", boosts[-1].group(0))]


def _analyse_ko(text: str) -> tuple[float, tuple[str, ...]]:
    """Sum of signed, boosted, possibly negated stem weights; particles are simply ignored."""
    matches = list(_KO_TERMS.finditer(text))
    spans = [m.span() for m in matches]
    total, hits = 0.0, []
    for m in matches:
        weight = _KO_WEIGHTS[re.sub(r"\s", "", m.group(0))]
        if weight == 0.0:
            continue
        weight *= _ko_boost(text, m.start())
        negated = _ko_negated(text, m.start(), m.end(), spans)
        total += weight * NEGATION_FACTOR if negated else weight
        hits.append(("not " if negated else "") + m.group(0))
    return total, tuple(hits)


_ANALYSERS = {"en": _analyse_en, "ko": _analyse_ko}

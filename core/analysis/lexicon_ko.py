"""Korean lexicon scoring: substring stems, longest first; negation follows the term."""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.analysis import directions, words_ko
from core.analysis.lexicon_terms import DIRECTION, NEGATION_FACTOR, NEUTRAL, SUBJECT, TERM, Entry

KO_NEGATION_CHARS = 10  # "-지 않았다", "우려는 없다": the negation follows within a few syllables
KO_BOOST_CHARS = 8
KO_SUBJECT_CHARS = 8  # "목표주가 잇따라 올려": the subject ends this close before its verb


def _ko_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """One alternation, longest first; a space in a term also matches no space ("자사주매입")."""
    ordered = sorted(set(terms), key=len, reverse=True)
    return re.compile("|".join(r"\s?".join(map(re.escape, t.split(" "))) for t in ordered))


def _ko_entries() -> dict[str, Entry]:
    entries = {t: Entry(TERM, w) for t, w in words_ko.POSITIVE.items()}
    entries |= {t: Entry(TERM, -w) for t, w in words_ko.NEGATIVE.items()}
    entries |= {t: Entry(DIRECTION, *d) for t, d in directions.KO_DIRECTIONS.items()}
    for term, polarity in directions.KO_SUBJECTS.items():
        own = entries.get(term)  # "손실" alone is still bad news
        entries[term] = Entry(SUBJECT, own.weight if own else 0.0, polarity)
    entries |= {t: Entry(NEUTRAL, 0.0) for t in words_ko.NEUTRAL}
    return {t.replace(" ", ""): e for t, e in entries.items()}


_KO_ENTRIES = _ko_entries()
_KO_TERMS = _ko_pattern(
    [
        *words_ko.POSITIVE,
        *words_ko.NEGATIVE,
        *words_ko.NEUTRAL,
        *directions.KO_DIRECTIONS,
        *directions.KO_SUBJECTS,
    ]
)
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


def _ko_subject(text: str, matches: list[re.Match[str]], d: int) -> int | None:
    """The subject just before a direction, in its clause, with no other direction between."""
    for j in range(d - 1, -1, -1):
        entry = _KO_ENTRIES[re.sub(r"\s", "", matches[j].group(0))]
        gap = text[matches[j].end() : matches[d].start()]
        if entry.kind == DIRECTION or len(gap) > KO_SUBJECT_CHARS or _KO_CLAUSE_END.search(gap):
            return None
        if entry.kind == SUBJECT:
            return j
    return None


def analyse_ko(text: str) -> tuple[float, tuple[str, ...]]:
    """Sum of signed, boosted, possibly negated stem weights; particles are simply ignored."""
    matches = list(_KO_TERMS.finditer(text))
    spans = [m.span() for m in matches]
    weights: dict[int, tuple[float, str]] = {}
    for d, m in enumerate(matches):
        entry = _KO_ENTRIES[re.sub(r"\s", "", m.group(0))]
        if entry.kind == DIRECTION:
            s = _ko_subject(text, matches, d)
            if s is None:
                weights[d] = (entry.extra, m.group(0))
            else:
                polarity = _KO_ENTRIES[re.sub(r"\s", "", matches[s].group(0))].extra
                weights[d] = (entry.weight * polarity, f"{matches[s].group(0)} {m.group(0)}")
                weights[s] = (0.0, "")
        elif entry.kind in (TERM, SUBJECT) and d not in weights:
            weights[d] = (entry.weight, m.group(0))
    total, hits = 0.0, []
    for d, m in enumerate(matches):
        weight, hit = weights.get(d, (0.0, ""))
        if not weight:
            continue
        weight *= _ko_boost(text, m.start())
        negated = _ko_negated(text, m.start(), m.end(), spans)
        total += weight * NEGATION_FACTOR if negated else weight
        hits.append(("not " if negated else "") + hit)
    return total, tuple(hits)

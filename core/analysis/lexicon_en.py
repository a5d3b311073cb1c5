"""English lexicon scoring: stemmed tokens, longest phrase first, negation over tokens."""

from __future__ import annotations

import re
from typing import NamedTuple

from core.analysis import directions, words_en
from core.analysis.lexicon_terms import (
    BOOST,
    DIRECTION,
    NEGATION_FACTOR,
    NEGATOR,
    NEUTRAL,
    SENTIMENT,
    SUBJECT,
    TERM,
    Entry,
)

EN_NEGATION_TOKENS = 3  # a negator reaches this many tokens ahead
EN_BOOST_TOKENS = 2  # an intensifier reaches the term right after it, or one word later
# A signed percentage ("+4%", "-11%") is one token; so is each word or number.
_EN_TOKEN = re.compile(r"(?<![\w.%])[+-]\d+(?:\.\d+)?%|[a-z0-9]+(?:'[a-z]+)?", re.IGNORECASE)
# Clauses end at sentence punctuation or a comma followed by space ("3.5%" stays whole).
_EN_CLAUSE = re.compile(r"[.;:!?,…]+(?:\s|$)|\s[-–—]+\s")
_CONTRACTIONS = frozenset(words_en.CONTRACTIONS)
EN_SUBJECT_BEFORE = 3  # "net loss for the quarter narrowed": tokens between subject and verb
EN_SUBJECT_AFTER = 2  # "cut 370 jobs", "lower fuel bill"


class _Item(NamedTuple):
    start: int
    end: int
    entry: Entry


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


def _en_table() -> dict[tuple[str, ...], Entry]:
    table: dict[tuple[str, ...], Entry] = {}
    for phrase, weight in words_en.POSITIVE.items():
        table[_en_key(phrase)] = Entry(TERM, weight)
    for phrase, weight in words_en.NEGATIVE.items():
        table[_en_key(phrase)] = Entry(TERM, -weight)
    for phrase, direction in directions.EN_DIRECTIONS.items():
        table[_en_key(phrase)] = Entry(DIRECTION, direction.strength, direction.alone)
    for phrase, polarity in directions.EN_SUBJECTS.items():
        own = table.get(_en_key(phrase))  # "loss" alone is still bad news
        table[_en_key(phrase)] = Entry(SUBJECT, own.weight if own else 0.0, polarity)
    for phrase in words_en.NEUTRAL:
        table[_en_key(phrase)] = Entry(NEUTRAL, 0.0)
    for phrase in words_en.NEGATORS:
        table[_en_key(phrase)] = Entry(NEGATOR, 0.0)
    for phrase, factor in words_en.INTENSIFIERS.items():
        table[_en_key(phrase)] = Entry(BOOST, factor)
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


def analyse_en(text: str) -> tuple[float, tuple[str, ...]]:
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


def _match_en(stems: list[str], i: int) -> tuple[int, Entry | None]:
    for length in range(min(_EN_MAX_PHRASE, len(stems) - i), 0, -1):
        entry = _EN_TABLE.get(tuple(stems[i : i + length]))
        if entry is not None:
            return length, entry
    return 1, None


def _other_sense(raw: list[str], i: int, cased: list[str] | None) -> bool:
    """A sentiment word used as a name ("Sue Smith"), a company ("the concern said")…"""
    if raw[i] in words_en.HOMOGRAPHS:
        return True
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
            entry = Entry(DIRECTION, sign, sign) if raw[i].strip("+-0.%") else None
        elif entry is None and _is_contraction(raw[i]):
            entry = Entry(NEGATOR, 0.0)
        elif entry is not None and tuple(stems[i:end]) in _EN_UPDOWN:
            follower = raw[end] if end < len(raw) else ""
            if not (follower[:1].isdigit() or follower in directions.EN_UPDOWN_FOLLOWERS):
                entry = None
        if entry and entry.kind in SENTIMENT and length == 1 and _other_sense(raw, i, cased):
            entry = None
        if entry is not None:
            items.append(_Item(i, end, entry))
        i = end
    return items


def _subject_of(items: list[_Item], d: int, raw: list[str]) -> int | None:
    """The subject a direction moves: the nearest one just before it, else one just after
    ("cut production costs": the last of adjacent subjects is the head noun)."""
    for j in range(d - 1, -1, -1):
        if _out_of_reach(raw[items[j].end : items[d].start], EN_SUBJECT_BEFORE, items[j]):
            break
        if items[j].entry.kind == SUBJECT:
            return j
    for j in range(d + 1, len(items)):
        if _out_of_reach(raw[items[d].end : items[j].start], EN_SUBJECT_AFTER, items[j]):
            break
        if items[j].entry.kind == SUBJECT:
            while j + 1 < len(items) and items[j + 1].entry.kind == SUBJECT:
                if items[j + 1].start != items[j].end:
                    break
                j += 1
            return j
    return None


def _out_of_reach(between: list[str], reach: int, item: _Item) -> bool:
    return (
        len(between) > reach
        or bool(_EN_STOPS.intersection(between))
        or item.entry.kind == DIRECTION
    )


def _score_en_items(items: list[_Item], raw: list[str]) -> tuple[float, list[str]]:
    """Directions take their subject's sign; then boosts and negation as for any term."""
    weights = {}
    for d, item in enumerate(items):
        if item.entry.kind == DIRECTION:
            s = _subject_of(items, d, raw)
            if s is None:
                weights[d] = (item.entry.extra, " ".join(raw[item.start : item.end]))
            else:
                subject = items[s]
                weights[d] = (item.entry.weight * subject.entry.extra, _span(raw, subject, item))
                weights[s] = (0.0, "")
        elif item.entry.kind in (TERM, SUBJECT) and d not in weights:
            weights[d] = (item.entry.weight, " ".join(raw[item.start : item.end]))
    total, hits, used = 0.0, [], set()
    negate_until = boost_until = -1
    boost = 1.0
    for d, item in enumerate(items):
        if item.entry.kind == NEGATOR:
            negate_until = item.end + EN_NEGATION_TOKENS
        elif item.entry.kind == BOOST and d not in used:
            boost, boost_until = item.entry.weight, item.end + EN_BOOST_TOKENS - 1
        weight, hit = weights.get(d, (0.0, ""))
        if not weight:
            continue
        if item.start < boost_until:
            weight *= boost
            boost_until = -1
        after = items[d + 1] if d + 1 < len(items) else None
        if after and after.entry.kind == BOOST and after.start == item.end:  # "fell sharply"
            weight *= after.entry.weight
            used.add(d + 1)
        negated = item.start < negate_until
        total += weight * NEGATION_FACTOR if negated else weight
        hits.append(("not " if negated else "") + hit)
    return total, hits


def _span(raw: list[str], a: _Item, b: _Item) -> str:
    first, second = sorted((a, b))
    return " ".join(raw[first.start : first.end] + raw[second.start : second.end])

"""The entry kinds of the lexicon tables and the negation factor both languages apply."""

from __future__ import annotations

from typing import NamedTuple

NEGATION_FACTOR = -0.75  # "did not beat" is negative, but weaker than an outright "missed"

TERM, NEUTRAL, NEGATOR, BOOST = "term", "neutral", "negator", "boost"
DIRECTION, SUBJECT = "direction", "subject"
SENTIMENT = (TERM, DIRECTION, SUBJECT)


class Entry(NamedTuple):
    """A table entry: its kind, its weight (a term's, a subject's own, a direction's strength),
    a subject's polarity (+1 up is good, -1 up is bad) or a direction's weight with no subject."""

    kind: str
    weight: float
    extra: float = 0.0


def words(text: str) -> tuple[str, ...]:
    """Comma-separated words or phrases, so long word lists stay compact in the source."""
    return tuple(w.strip() for w in text.split(","))

"""Whether a report's numbers rest on the facts it cites (pure).

A number in prose is a claim: a percentage (3.2%, 3.2%p), a decimal or signed score (+0.18),
an integer with or without separators (12,345,678), scaled words (1.2 billion, 12.3m) and
Korean units (1조 2,000억, 3만). Not claims: dates and years (2024-03-14, 2024년 3월, March
14), periods and windows (5-day, 52-week, 1m, 3분기, Q3), times, ordinals, and source ids
([f1], a2). A claim is grounded when it equals, after the writer's own rounding, a number of
a fact it cites: its value or one its text states, sign aside (a "fall of 3.2%" is -3.2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.analysis.facts import Fact

# Spans that hold digits but state no quantity; removed before numbers are read.
_NOT_CLAIMS = [
    r"\[[^\]]*\]",  # citation markers [f1], [a2, f3]
    r"\b[afr]\d+\b",  # bare source ids
    r"\b\d{4}[-./]\d{1,2}(?:[-./]\d{1,2})?\b",  # 2024-03-14, 2023.12
    r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b",  # 3/14, 3/14/2024
    r"\b\d{1,2}:\d{2}\b",  # times
    r"(?:19|20)\d{2}\s*년|\d{1,2}\s*월|\d{1,2}\s*일|\d\s*분기|\d+\s*(?:주|개월|거래일)",
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}"
    r"(?:st|nd|rd|th)?(?:,?\s+\d{4})?\b",
    r"\b\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)"
    r"[a-z]*\.?(?:,?\s+\d{4})?\b",
    r"(?<![\d.,])\b\d+\s*-?\s*(?:days?|weeks?|months?|years?|sessions?|quarters?|d|w|m|y)\b"
    r"(?![.,]\d)",
    r"\b(?:q[1-4]|[1-4]q|h[12]|fy\s?\d{2,4})\b",
    r"\b\d+(?:st|nd|rd|th)\b",
    r"(?<![\d.,])(?:19|20)\d{2}(?![\d%.,]|\s*(?:%|x|배|원|조|억|만))",  # bare years
]
_NOT_CLAIMS_RE = re.compile("|".join(f"(?:{p})" for p in _NOT_CLAIMS), re.IGNORECASE)
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_KOREAN = {"조": 1e12, "억": 1e8, "만": 1e4, "천": 1e3}
_WORDS = {"trillion": 1e12, "tn": 1e12, "billion": 1e9, "bn": 1e9, "b": 1e9, "million": 1e6,
          "mn": 1e6, "mln": 1e6, "m": 1e6, "thousand": 1e3, "k": 1e3}  # fmt: skip
_KOREAN_AMOUNT = re.compile(rf"(?:(?:{_NUM})\s*[조억만천]\s*)+")
_NUMBER = re.compile(
    rf"(?<![\w.])([+\-−]?)[$₩€£]?\s?({_NUM})"
    r"(?:\s?(%p|%|퍼센트|x|×|배)|\s?(trillion|billion|million|thousand|tn|bn|mln|mn|b|m|k)\b)?",
    re.IGNORECASE,
)
_IDS = re.compile(r"\[\s*([afr]\d+(?:\s*,\s*[afr]\d+)*)\s*\]")
RELATIVE_TOLERANCE = 0.005  # besides rounding: half a percent of the fact's value


@dataclass(frozen=True, slots=True)
class Number:
    """A number as written: its value (scaled), and `step`, the precision it was written to."""

    text: str
    value: float
    step: float


def _step(digits: str) -> float:
    digits = digits.replace(",", "")
    if "." in digits:
        return 10.0 ** -len(digits.split(".")[1])
    trailing = len(digits) - len(digits.rstrip("0"))
    return 10.0 ** min(trailing, max(len(digits) - 1, 0))


def _korean(span: str) -> Number | None:
    total, step = 0.0, None
    for digits, unit in re.findall(rf"({_NUM})\s*([조억만천])", span):
        scale = _KOREAN[unit]
        total += float(digits.replace(",", "")) * scale
        step = _step(digits) * scale
    return Number(span.strip(), total, step) if step else None


def numbers_in(text: str) -> list[Number]:
    """The numbers that `text` claims (see the module docstring for what is not a claim)."""
    text = _NOT_CLAIMS_RE.sub(" ", text or "")
    out: list[Number] = []
    for span in _KOREAN_AMOUNT.finditer(text):
        found = _korean(span.group(0))
        if found:
            out.append(found)
    text = _KOREAN_AMOUNT.sub(lambda m: " " * len(m.group(0)), text)
    for m in _NUMBER.finditer(text):
        sign, digits, _unit, word = m.groups()
        scale = _WORDS.get((word or "").lower(), 1.0)
        value = float(digits.replace(",", "")) * scale
        value = -value if sign in ("-", "−") else value
        out.append(Number(m.group(0).strip(), value, _step(digits) * scale))
    return out


def matches(number: Number, value: float) -> bool:
    """Whether `number`, as rounded by its writer, states `value` (sign aside)."""
    gap = abs(abs(number.value) - abs(value))
    return gap <= number.step / 2 + 1e-9 or gap <= RELATIVE_TOLERANCE * abs(value)


def cited_ids(text: str) -> list[str]:
    """Ids cited inline as [f1] or [a2, f3]."""
    return [i.strip() for m in _IDS.finditer(text or "") for i in m.group(1).split(",")]


def ungrounded(text: str, facts: Iterable[Fact]) -> list[Number]:
    """The numbers in `text` that match no number of `facts`."""
    values = [v for f in facts for v in f.numbers()]
    return [n for n in numbers_in(text) if not any(matches(n, v) for v in values)]


@dataclass(frozen=True, slots=True)
class Problem:
    """Ungrounded numbers in one part of a report: `part` is summary, outlook or e.g.
    positives[1]."""

    part: str
    numbers: list[str]

    def describe(self) -> str:
        """One line for the repair prompt."""
        return (f"{self.part}: {', '.join(self.numbers)} match no fact it cites; cite the fact "
                "whose value you state, or remove the number")  # fmt: skip


def audit(answer: Any, facts: Mapping[str, Fact]) -> list[Problem]:
    """Problems of a report answer (summary, positives, concerns, outlook) against `facts`
    by id: a claim may use the facts it cites, summary and outlook those cited inline or in
    the answer's `citations`."""
    general = set(answer.citations)
    parts: list[tuple[str, str, set[str]]] = [("summary", answer.summary, general)]
    for name in ("positives", "concerns"):
        for i, claim in enumerate(getattr(answer, name)):
            parts.append((f"{name}[{i}]", claim.text, set(claim.citations)))
    parts.append(("outlook", answer.outlook, general))
    problems = []
    for part, text, cited in parts:
        own = [facts[i] for i in cited | set(cited_ids(text)) if i in facts]
        bad = ungrounded(text, own)
        if bad:
            problems.append(Problem(part, [n.text for n in bad]))
    return problems


def drop_ungrounded_sentences(text: str, facts: Sequence[Fact]) -> tuple[str, int]:
    """`text` without its sentences whose numbers match none of `facts`; (text, dropped)."""
    sentences = re.split(r"(?<=[.!?。])\s+", (text or "").strip())
    kept = [s for s in sentences if s and not ungrounded(s, facts)]
    return " ".join(kept), len([s for s in sentences if s]) - len(kept)


def _report_parts(report: Mapping[str, Any]) -> list[tuple[str, set[str]]]:
    coverage = report.get("coverage") or {}
    general = set(coverage.get("cited_facts") or [])
    parts = [(report.get("summary") or "", general), (report.get("outlook") or "", general)]
    for name in ("positives", "concerns"):
        for claim in report.get(name) or []:
            if claim.get("kind") != "headline":  # a cited headline quoted verbatim
                parts.append((claim.get("text") or "", set(claim.get("facts") or [])))
    return parts


def numbers_grounded_share(report: Mapping[str, Any]) -> float:
    """Share of the numbers in a stored report's prose (a `reports` row or the API's report)
    that match a fact cited where they stand; 1.0 when the prose has no numbers."""
    facts = {f["id"]: Fact.model_validate(f) for f in report.get("facts") or []}
    total = grounded = 0
    for text, cited in _report_parts(report):
        own = [facts[i] for i in cited | set(cited_ids(text)) if i in facts]
        found = numbers_in(text)
        total += len(found)
        grounded += len(found) - len(ungrounded(text, own))
    return grounded / total if total else 1.0

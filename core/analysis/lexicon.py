"""A deterministic finance sentiment lexicon for English and Korean news, negation-aware.

The LLM gateway's fallback when no endpoint is configured or the daily budget is spent: pure
Python, precompiled tables, results marked `method="lexicon"` with the matched terms as `hits`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.analysis.lexicon_en import analyse_en
from core.analysis.lexicon_ko import analyse_ko
from core.errors import StockrayError
from core.models import Article

SUPPORTED_LANGUAGES = ("en", "ko")

NEUTRAL_BAND = 0.15  # |score| below this is neutral: one weak term alone still counts
ALPHA = 1.5  # squash x/(|x|+ALPHA): one clear term (±1) scores ±0.4, a strong one ±0.57
TITLE_WEIGHT = 2.0  # headlines state the news; summaries pad it


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


_ANALYSERS = {"en": analyse_en, "ko": analyse_ko}

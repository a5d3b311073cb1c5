"""Analysis logic without Ray: the lexicon sentiment fallback (prompts, parsing, cost to come)."""

from core.analysis.lexicon import (
    SUPPORTED_LANGUAGES,
    LexiconScore,
    UnsupportedText,
    accuracy,
    detect_language,
    score_article,
    score_text,
)

__all__ = [
    "SUPPORTED_LANGUAGES",
    "LexiconScore",
    "UnsupportedText",
    "accuracy",
    "detect_language",
    "score_article",
    "score_text",
]

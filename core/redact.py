"""Keeping secrets out of text: error messages at birth, log lines on the way out.

A process-wide registry holds every secret this process was configured with: each client
built with a key registers it (`register_secret`). `scrub(text)` replaces those, in plain and
URL-encoded form, and key-shaped tokens (bearer tokens, `apikey=` / `token=` parameters,
passwords in URLs, our own API keys, a token following "API key") by `***`.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

REDACTED = "***"
MIN_SECRET_LEN = 6  # shorter values would scrub ordinary words out of every message

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first, so a secret containing another goes whole

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"sr_[A-Za-z0-9_-]{8}_[A-Za-z0-9_-]{20,}"), REDACTED),  # our API keys
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)(://[^/\s:@]+:)[^@\s/]+@"), r"\1" + REDACTED + "@"),  # user:pass@host
    (
        re.compile(
            r"(?i)((?<![A-Za-z0-9])(?:api_?key|apikey|key|token|crtfc_key|access_token)=)"
            r"[^&\s\"',]+"
        ),
        r"\1" + REDACTED,
    ),
    (
        re.compile(
            r"(?i)([\"']?(?<![A-Za-z0-9])(?:x-api-key|api_?key|apikey|crtfc_key|access_token|token)"
            r"[\"']?\s*:\s*[\"']?)[^\s\"',]+"
        ),
        r"\1" + REDACTED,
    ),
]
# "We have detected your API key as XYZ123 and ...": the token after "API key" when it
# looks like a key (a digit in it, or long and upper-case), not a word such as "is".
_AFTER_API_KEY = re.compile(
    r"(?i)(\bapi[ _-]?key\s*(?:(?:as|is|was|[:=])\s*)?[\"'(]?)"
    r"([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)"
)


def register_secret(value: str | None) -> None:
    """Add `value` to the secrets this process scrubs (ignored when empty or very short)."""
    global _secrets
    if not value or len(value) < MIN_SECRET_LEN:
        return
    forms = {value, quote(value, safe="")}
    with _lock:
        if forms <= set(_secrets):
            return
        _secrets = tuple(sorted(set(_secrets) | forms, key=len, reverse=True))


def registered() -> tuple[str, ...]:
    """The registered secrets (plain and URL-encoded), longest first."""
    return _secrets


def scrub(text: str) -> str:
    """`text` with every registered secret and key-shaped token replaced by `***`."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _AFTER_API_KEY.sub(_key_token, text)


def _key_token(match: re.Match[str]) -> str:
    token = match[2]
    shaped = any(c.isdigit() for c in token) or (len(token) >= 12 and token.isupper())
    return match[1] + REDACTED if shaped and token != REDACTED else match[0]

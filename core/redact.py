"""Keeping secrets out of text: error messages at birth, log lines on the way out.

A process-wide registry holds every secret this process was configured with: each client
built with a key registers it (`register_secret`). `scrub(text)` replaces those, in plain and
URL-encoded form, and key-shaped tokens (bearer tokens, `apikey=` / `token=` parameters,
passwords in URLs, our own API keys, a token following "API key") by `***`.
"""

from __future__ import annotations

import re
import shlex
import threading
from urllib.parse import quote

REDACTED = "***"
MIN_SECRET_LEN = 6  # shorter values would scrub ordinary words out of every message

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first, so a secret containing another goes whole

# Names whose value is a secret, in `name=value`, `"name": value` and `--name value` forms.
_SECRET_NAMES = (
    r"x-api-key|api[_-]?key|apikey|crtfc_key|access_token|refresh_token|auth_token|token"
    r"|client_secret|secret|password|passwd"
)
_QUOTED_OR_BARE = r"(?:\"[^\"]*\"|'[^']*'|[^\s\"',}]+)"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"sr_[A-Za-z0-9_-]{8}_[A-Za-z0-9_-]{20,}"), REDACTED),  # our API keys
    # An Authorization header's credentials, whatever the scheme (Bearer, Basic, Token, …).
    (
        re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:[A-Za-z-]+\s+)?)[^\s\"',]+"),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1" + REDACTED),
    # user:password@host, the password running to the last "@" of the authority (an
    # unencoded "@" in it included); the user may be empty (redis://:pw@host).
    (re.compile(r"(?i)(://[^/\s:@]*:)[^\s/?#]*@"), r"\1" + REDACTED + "@"),
    (
        re.compile(rf"(?i)((?<![A-Za-z0-9])(?:{_SECRET_NAMES}|key)=)[^&\s\"',]+"),
        r"\1" + REDACTED,
    ),
    # The same, percent-encoded inside another URL or form value: apikey%3D…%26.
    (
        re.compile(
            rf"(?i)((?:(?<![A-Za-z0-9])|(?<=%[0-9A-F]{{2}}))(?:{_SECRET_NAMES}|key)%3D)"
            r"(?:(?!%26)[^&\s\"'])+"
        ),
        r"\1" + REDACTED,
    ),
    (
        re.compile(
            rf"(?i)([\"']?(?<![A-Za-z0-9])(?:{_SECRET_NAMES})[\"']?\s*:\s*){_QUOTED_OR_BARE}"
        ),
        r"\1" + f'"{REDACTED}"',
    ),
]
# "Basic dXNlcjpwYXNz" or "Token 9f3c…" outside a header line: scrubbed when the token is
# credential-shaped (a digit, base64 padding or a capital after the first letter), so
# "basic authentication" or "Token refresh failed" stay.
_SCHEME_TOKEN = re.compile(r"(?i)\b(basic|token)(\s+)([A-Za-z0-9+/=._~-]{8,})")
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
    once = quote(value, safe="")
    forms = {value, once, quote(once, safe="")}  # a URL inside another URL: encoded twice
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
    text = _SCHEME_TOKEN.sub(_scheme_token, text)
    return _AFTER_API_KEY.sub(_key_token, text)


def _scheme_token(match: re.Match[str]) -> str:
    token = match[3]
    shaped = any(c.isdigit() or c in "+/=" for c in token) or any(c.isupper() for c in token[1:])
    return f"{match[1]}{match[2]}{REDACTED}" if shaped and token != REDACTED else match[0]


def _key_token(match: re.Match[str]) -> str:
    token = match[2]
    shaped = any(c.isdigit() for c in token) or (len(token) >= 12 and token.isupper())
    return match[1] + REDACTED if shaped and token != REDACTED else match[0]


_SECRET_FLAG = re.compile(rf"(?i)^--?(?:[a-z0-9]+[_-])*(?:{_SECRET_NAMES}|key|credential)s?$")


def scrub_command(command: str) -> str:
    """A shell command line with secret-looking arguments masked: the value of a flag named
    like a secret (`--token X`, `--api-key=X`, `--password X`) and whatever `scrub` finds."""
    try:
        args = shlex.split(command)
    except ValueError:  # unbalanced quotes: not a command we can read, so show none of it
        return REDACTED
    masked, hide_next = [], False
    for arg in args:
        flag, eq, _ = arg.partition("=")
        if hide_next and not arg.startswith("-"):
            masked.append(REDACTED)
        elif eq and _SECRET_FLAG.match(flag):
            masked.append(f"{flag}={REDACTED}")
        else:
            masked.append(scrub(arg))
        hide_next = not eq and bool(_SECRET_FLAG.match(arg))
    return shlex.join(masked)

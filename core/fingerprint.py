"""Article fingerprints: the dedupe key of a news story across providers and fetches.

The key is ONE sha256 over the normalised URL and the normalised title (a fixed 64-hex
column, one index), prefixed with a version so a change of normalisation can be rolled out
as a new key space. Normalisation removes what varies between copies of the same story:

- URL: scheme and host lowercased, `http` folded into `https`, `www.` and default ports
  dropped, fragment dropped, tracking parameters (utm_*, fbclid, gclid, ref, ...) dropped,
  the other parameters sorted, percent-encoding made canonical, trailing slash stripped.
- Title: NFKC, casefold, runs of whitespace and punctuation collapsed to one space.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

VERSION = "v1"
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "ref", "ref_src", "ref_url",
        "referrer", "cmpid", "ocid", "spm", "smid", "sr_share", "ncid", "guccounter",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "stm_", "pk_")  # Google Analytics, Matomo
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left unescaped in a normalised path (RFC 3986 unreserved + sub-delims + ":@/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_SEPARATOR = "\x1f"  # cannot occur in either normalised part


def article_fingerprint(url: str, title: str) -> str:
    """The stable dedupe key of an article: sha256 hex over its normalised URL and title."""
    key = _SEPARATOR.join((VERSION, normalize_url(url), normalize_title(title)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def normalize_url(url: str) -> str:
    """The URL with everything that differs between copies of one link removed."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme == "http":
        scheme = "https"  # the same page served over both
    host = (parts.hostname or "").lower().removeprefix("www.")
    try:
        port = parts.port
    except ValueError:  # an unparseable port is kept out of the key rather than failing
        port = None
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    path = quote(unquote(parts.path), safe=_PATH_SAFE).rstrip("/")
    query = urlencode(
        sorted(
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if not _is_tracking(key)
        )
    )
    return urlunsplit((scheme, host, path, query, ""))


def normalize_title(title: str) -> str:
    """The title compared as text only: NFKC, casefolded, punctuation and spacing collapsed."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    spaced = "".join(" " if _is_separator(ch) else ch for ch in folded)
    return re.sub(r"\s+", " ", spaced).strip()


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _is_separator(ch: str) -> bool:
    # P* is punctuation (., ', “, 「, ·); Z* and C* cover odd spaces and control characters.
    return unicodedata.category(ch)[0] in "PZC"

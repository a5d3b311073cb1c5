"""The dashboard's dictionaries (serve_app/static/i18n_text.js): every key in English and in
Korean, and every key the pages name literally exists."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "serve_app" / "static"
KEY = re.compile(r'^\s+"([^"]+)":', re.M)
USED = (
    re.compile(r'\bt\(\s*"([^"]+)"'),  # t("key", …) in the modules
    re.compile(r'data-i18n(?:-label)?="([^"]+)"'),  # index.html
)


def _dictionaries() -> dict[str, set[str]]:
    text = (STATIC / "i18n_text.js").read_text(encoding="utf-8")
    ko = text.index("\n  ko: {")
    return {"en": set(KEY.findall(text[:ko])), "ko": set(KEY.findall(text[ko:]))}


def test_every_key_is_in_both_languages() -> None:
    found = _dictionaries()
    assert len(found["en"]) > 100
    assert sorted(found["en"] - found["ko"]) == []
    assert sorted(found["ko"] - found["en"]) == []


def test_every_key_the_pages_name_exists() -> None:
    known = _dictionaries()["en"]
    used = {
        key
        for path in [*STATIC.glob("*.js"), STATIC / "index.html"]
        for pattern in USED
        for key in pattern.findall(path.read_text(encoding="utf-8"))
    }
    assert len(used) > 50
    assert sorted(used - known) == []

"""Article fingerprints: copies of one story share a key, different stories do not."""

from __future__ import annotations

import hashlib
import re

import pytest

from core.fingerprint import article_fingerprint, normalize_title, normalize_url

TITLE = "Apple Shares Slip as iPhone Demand in China Cools"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Example.COM/News/1", "https://example.com/News/1"),
        ("http://example.com/a", "https://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a/#section-2", "https://example.com/a"),
        ("https://example.com/", "https://example.com"),
        ("https://example.com/a?utm_source=x&utm_campaign=y", "https://example.com/a"),
        ("https://example.com/a?b=2&fbclid=F&a=1&gclid=G", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?ref=hp&REF_SRC=twsrc&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?q=&x=1", "https://example.com/a?q=&x=1"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://n.news.naver.com/뉴스/1", "https://n.news.naver.com/%EB%89%B4%EC%8A%A4/1"),
        ("https://n.news.naver.com/%eb%89%b4%ec%8a%a4/1", "https://n.news.naver.com/%EB%89%B4%EC%8A%A4/1"),
    ],
)  # fmt: skip
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_path_case_is_kept() -> None:
    # paths are case-sensitive on most servers; only scheme and host are folded
    assert normalize_url("https://example.com/A") != normalize_url("https://example.com/a")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("  Apple   shares\tslip \n", "apple shares slip"),
        ("Apple's “Vision Pro” — on sale!", "apple s vision pro on sale"),
        ("ＡＰＰＬＥ　ｓｌｉｐｓ", "apple slips"),  # full-width forms, ideographic space
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # casefold, not lower
        ("삼성전자, 4분기 영업이익…전년比 35%↓", "삼성전자 4분기 영업이익 전년比 35 ↓"),
        ("「반도체 바닥」 삼성전자", "반도체 바닥 삼성전자"),
    ],
)
def test_normalize_title(title: str, expected: str) -> None:
    assert normalize_title(title) == expected


def test_fingerprint_is_sha256_hex() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", article_fingerprint("https://example.com/a", TITLE))


def test_tracking_params_and_case_dedupe() -> None:
    one = article_fingerprint(
        "https://www.benzinga.com/news/24/02/37081234/apple-shares?utm_source=av&utm_medium=api",
        TITLE,
    )
    two = article_fingerprint(
        "http://benzinga.com/news/24/02/37081234/apple-shares/", TITLE.upper()
    )
    assert one == two


def test_korean_story_with_other_quotes_dedupes() -> None:
    one = article_fingerprint(
        "https://www.hankyung.com/article/2024010856781?utm_source=newsapi#comments",
        '"반도체 바닥 찍었다"…삼성전자 주가 7만원대 회복',
    )
    two = article_fingerprint(
        "https://hankyung.com/article/2024010856781",
        "“반도체 바닥 찍었다”… 삼성전자 주가 7만원대 회복",
    )
    assert one == two


@pytest.mark.parametrize(
    ("url", "title"),
    [
        ("https://example.com/a?id=8", TITLE),  # another article on the same page template
        ("https://example.com/a?id=7", "Apple Shares Rise as iPhone Demand in China Cools"),
        ("https://other.example.com/a?id=7", TITLE),
    ],
)
def test_different_stories_differ(url: str, title: str) -> None:
    assert article_fingerprint(url, title) != article_fingerprint(
        "https://example.com/a?id=7", TITLE
    )


def test_url_and_title_cannot_bleed_into_each_other() -> None:
    assert article_fingerprint("https://a.com/x", "y z") != article_fingerprint(
        "https://a.com/x y", "z"
    )


def test_fingerprint_is_stable() -> None:
    # a stored key must never change for the same input (v1 key space)
    expected = hashlib.sha256(b"v1\x1fhttps://example.com/a\x1fhello").hexdigest()
    assert article_fingerprint("http://www.example.com/a/", "Hello!") == expected

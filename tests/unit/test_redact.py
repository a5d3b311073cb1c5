"""Scrubbing secrets: registered keys and key-shaped tokens leave no error or log line."""

from __future__ import annotations

import pickle

import pytest

from core.errors import BadPayload, LLMTransient, QuotaExhausted, RateLimited
from core.redact import REDACTED, register_secret, registered, scrub

KEY = "Zq7-secret+key/42"


@pytest.fixture(autouse=True, scope="module")
def _registered() -> None:
    register_secret(KEY)


def test_registered_secrets_go_in_plain_and_url_encoded_form() -> None:
    assert KEY in registered()
    assert scrub(f"bad key {KEY}!") == f"bad key {REDACTED}!"
    assert scrub("GET /q?x=1&k=Zq7-secret%2Bkey%2F42") == "GET /q?x=1&k=***"


def test_short_or_empty_values_are_not_registered() -> None:
    before = registered()
    register_secret("")
    register_secret(None)
    register_secret("abc")
    assert registered() == before
    assert scrub("abc is a word") == "abc is a word"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("We have detected your API key as XYZ123 and our standard API rate limit", "XYZ123"),
        ("your api key is ABCDEFGHIJKLMNOP.", "ABCDEFGHIJKLMNOP"),
        ("GET /query?function=X&apikey=AV0123&symbol=IBM", "AV0123"),
        ("list.json?crtfc_key=0123456789abcdef&corp_code=1", "0123456789abcdef"),
        ("wss://host/ws?token=tok_999", "tok_999"),
        ("params api_key=s3cr3t", "s3cr3t"),
        ("Authorization: Bearer sk-abc.def", "sk-abc.def"),
        ('{"X-Api-Key": "nk12345"}', "nk12345"),
        ("postgresql://app:pg-pass@db:5432/x", "pg-pass"),
        ("key sr_AbCdEf12_" + "x" * 30, "sr_AbCdEf12_" + "x" * 30),
    ],
)
def test_key_shaped_tokens_are_scrubbed(text: str, secret: str) -> None:
    cleaned = scrub(text)
    assert secret not in cleaned
    assert REDACTED in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "The **demo** API key is for demo purposes only.",
        "Please claim your free API key on (https://www.alphavantage.co/support/#api-key).",
        "the parameter apikey is invalid or missing",
        "unexpected status '020' (field 'status')",
    ],
)
def test_ordinary_words_stay(text: str) -> None:
    assert scrub(text) == text


def test_provider_errors_are_scrubbed_at_birth_and_after_pickling() -> None:
    err = RateLimited("alphavantage", f"your API key as {KEY} is over", 1.0)
    assert KEY not in str(err) and KEY not in err.message
    bad = BadPayload("dart", f"rejected crtfc_key={KEY}", field="request")
    assert KEY not in str(bad)
    copy = pickle.loads(pickle.dumps(err))
    assert (type(copy), copy.message, copy.retry_after) == (RateLimited, err.message, 1.0)


def test_quota_error_keeps_its_fields_across_pickling() -> None:
    from datetime import UTC, datetime, timedelta

    reset = datetime.now(UTC) + timedelta(hours=3)
    err = pickle.loads(pickle.dumps(QuotaExhausted("newsapi", f"used up {KEY}", reset)))
    assert err.reset_at == reset and KEY not in str(err) and not err.retryable


def test_llm_errors_are_scrubbed_at_birth() -> None:
    err = LLMTransient(f"401: Incorrect API key provided: {KEY}", "openai", raw=f"x {KEY}")
    assert KEY not in str(err) and KEY not in err.message and KEY not in err.raw
    assert KEY not in str(pickle.loads(pickle.dumps(err)))

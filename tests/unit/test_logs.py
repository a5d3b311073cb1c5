"""The one logging setup: JSON lines with context, and no secret ever written."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from configs.settings import load_settings
from core.logs import bind, configure_logging, log_context

KEY = "sr_AbCdEf12_" + "x" * 43


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def json_log():
    stream = io.StringIO()
    settings = load_settings(
        log_json=True,
        provider_keys={"newsapi": "nk-secret-123456"},
        database_url="postgresql://app:pg-pass-9876@db:5432/stockray",
    )
    configure_logging(settings, stream)
    yield logging.getLogger("stockray.test"), stream
    configure_logging(load_settings(), io.StringIO())


def test_json_lines_carry_the_bound_context(json_log) -> None:
    log, stream = json_log
    with log_context(trace_id="t-1", stage="collect"):
        with log_context(instrument="AAPL", provider="yahoo"):
            log.info("fetched %d bars", 20, extra={"status": "ok"})
        log.warning("done")
    log.info("outside")
    first, second, third = _lines(stream)
    assert first["msg"] == "fetched 20 bars" and first["level"] == "INFO"
    assert {k: first[k] for k in ("trace_id", "stage", "instrument", "provider", "status")} == {
        "trace_id": "t-1", "stage": "collect", "instrument": "AAPL", "provider": "yahoo",
        "status": "ok",
    }  # fmt: skip
    assert second["trace_id"] == "t-1" and "instrument" not in second
    assert "trace_id" not in third


def test_context_follows_asyncio_tasks(json_log) -> None:
    log, stream = json_log

    async def work(name: str) -> None:
        bind(instrument=name)
        await asyncio.sleep(0)
        log.info("step")

    async def main() -> None:
        with log_context(trace_id="t-2"):
            await asyncio.gather(work("AAPL"), work("MSFT"))

    asyncio.run(main())
    assert sorted((ln["trace_id"], ln["instrument"]) for ln in _lines(stream)) == [
        ("t-2", "AAPL"), ("t-2", "MSFT")
    ]  # fmt: skip


def test_secrets_never_reach_a_line(json_log) -> None:
    log, stream = json_log
    log.info("key %s presented", KEY)
    log.info("header Authorization: Bearer abc.def.ghi")
    log.info("GET https://newsapi.org/v2/everything?q=x&apiKey=nk-secret-123456&page=2")
    log.info("dart ?crtfc_key=0123456789abcdef")
    log.info("connecting to postgresql://app:pg-pass-9876@db:5432/stockray")
    log.info("the configured key is nk-secret-123456", extra={"provider": "newsapi"})
    try:
        raise RuntimeError(f"refused {KEY}")
    except RuntimeError:
        log.exception("failed")
    text = stream.getvalue()
    for secret in (KEY, "abc.def.ghi", "nk-secret-123456", "0123456789abcdef", "pg-pass-9876"):
        assert secret not in text
    assert text.count("***") >= 7
    assert "page=2" in text and "db:5432" in text  # only the secret parts go


def test_plain_text_lines_end_with_the_context() -> None:
    stream = io.StringIO()
    configure_logging(load_settings(log_json=False), stream)
    try:
        with log_context(trace_id="t-3", instrument="005930.KS"):
            logging.getLogger("stockray.x").info("hello")
    finally:
        configure_logging(load_settings(), io.StringIO())
    assert stream.getvalue().rstrip().endswith("hello [trace_id=t-3 instrument=005930.KS]")


def test_unknown_context_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="user"), log_context(user="bob"):
        pass

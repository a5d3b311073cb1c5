"""Secret shapes beyond the basics: JSON fields, Authorization schemes, percent-encoded keys,
database URLs, command lines; and log lines of loggers other than `stockray` (httpx)."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from configs.settings import load_settings
from core.logs import configure_logging
from core.redact import REDACTED, register_secret, scrub, scrub_command


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # JSON fields, quoted values whole (spaces included), any quoting
        ('{"apikey": "abc123def"}', "abc123def"),
        ('{"api_key":"two words"}', "two words"),
        ("{'password': 'hunter22'}", "hunter22"),
        ('{"client_secret": "cs-991"}', "cs-991"),
        # Authorization headers, whatever the scheme; bare credential-shaped Basic/Token
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("authorization=Token 9f3cabcdef", "9f3cabcdef"),
        ('{"Authorization": "Digest abc123xyz"}', "abc123xyz"),
        ("sent Basic QWxhZGRpbjpvcGVu to the proxy", "QWxhZGRpbjpvcGVu"),
        ("retrying with Token tok_4b1d9e", "tok_4b1d9e"),
        # percent-encoded: a URL carried inside another URL's parameter
        ("next=%2Fq%3Fapikey%3DAV0123%26symbol%3DIBM", "AV0123"),
        ("u=https%3A%2F%2Fh%2F%3Ftoken%3Dse%252Fcret%26q%3D1", "se%252Fcret"),
        # database and cache URLs
        ("postgresql://app:p%40ss-w0rd@db:5432/x", "p%40ss-w0rd"),
        ("postgresql://app:p@ss-w0rd@db:5432/x?sslmode=require", "ss-w0rd"),
        ("redis://:r3dis-pw@cache:6379/0", "r3dis-pw"),
        ("host=db user=app password=pg-Secret1 dbname=x", "pg-Secret1"),
    ],
)
def test_secret_shapes_are_scrubbed(text: str, secret: str) -> None:
    cleaned = scrub(text)
    assert secret not in cleaned and REDACTED in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "basic authentication is required",
        "Token refresh failed, will retry",
        "https://example.com/a@b",
        "GET /v2/everything?q=Apple&from=2024-01-01",
        "monkey%3Dbanana",
    ],
)
def test_ordinary_text_stays(text: str) -> None:
    assert scrub(text) == text


def test_a_database_url_keeps_its_host_and_user() -> None:
    assert scrub("postgresql://app:p@ss@db:5432/x") == "postgresql://app:***@db:5432/x"


def test_registered_secrets_are_scrubbed_encoded_twice() -> None:
    register_secret("Zq7/twice+enc")
    assert scrub("u=%3Fk%3DZq7%252Ftwice%252Benc") == "u=%3Fk%3D***"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "python -m jobs.backfill --tickers AAPL --start 2024-01-01 --trace-id abc",
            "python -m jobs.backfill --tickers AAPL --start 2024-01-01 --trace-id abc",
        ),
        ("python -m jobs.x --token tok123 --n 1", "python -m jobs.x --token '***' --n 1"),
        ("python -m jobs.x --api-key=s3cr3t", "python -m jobs.x '--api-key=***'"),
        ("python -m jobs.x --db-password 'p w'", "python -m jobs.x --db-password '***'"),
        ("python -m jobs.x --dsn postgresql://u:pw@h/d", "python -m jobs.x --dsn 'postgresql://u:***@h/d'"),
        ("python -m jobs.x --url 'https://h/?apikey=k1&x=1'", "python -m jobs.x --url 'https://h/?apikey=***&x=1'"),
        ("python -m jobs.x --monkey banana --key", "python -m jobs.x --monkey banana --key"),
        ("echo 'unbalanced", REDACTED),
    ],
)  # fmt: skip
def test_command_lines_mask_secret_arguments(command: str, expected: str) -> None:
    assert scrub_command(command) == expected


@pytest.fixture
def root_log() -> Iterator[io.StringIO]:
    """What reaches a plain handler on the root logger, as a library's INFO lines do."""
    configure_logging(load_settings(log_json=False), io.StringIO())
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_any_logger_is_scrubbed_including_tracebacks(root_log: io.StringIO) -> None:
    other = logging.getLogger("some.library")
    other.info("calling %s", "https://h/q?apikey=LIB0123&x=1")
    try:
        raise ValueError("rejected Authorization: Basic dXNlcjpwYXNz")
    except ValueError:
        other.exception("failed")
    text = root_log.getvalue()
    assert "LIB0123" not in text and "dXNlcjpwYXNz" not in text
    assert "apikey=***" in text and "Traceback" in text


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_an_httpx_request_line_is_scrubbed(root_log: io.StringIO) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/query?function=X&apikey=HTTPX0SECRET9"
        assert httpx.get(url, timeout=10).status_code == 200
    finally:
        server.shutdown()
        server.server_close()
    text = root_log.getvalue()
    assert "HTTP Request: GET" in text  # httpx's own INFO line reached the root handler...
    assert "HTTPX0SECRET9" not in text and "apikey=***" in text  # ...scrubbed

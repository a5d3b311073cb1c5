"""One logging setup for every stockray process: Serve replicas, actors, jobs, the CLI.

`configure_logging(settings)` puts one handler on the `stockray` logger: plain text, or
one JSON object per line with `STOCKRAY_LOG_JSON=1`. Every line carries the context bound
with `log_context(...)` (`trace_id`, `instrument`, `stage`, `provider`, `status`), which
follows asyncio tasks (contextvars), and passes through a redaction filter: API keys,
bearer tokens, passwords in URLs, key/token query parameters and the configured secrets
themselves are replaced by `***` before anything is written (`core.redact`, the same
registry and patterns that scrub error messages).

Other loggers (httpx logs every request's full URL at INFO, query-string keys included;
Ray's and Serve's own) are scrubbed too: `configure_logging` also installs a log-record
factory that scrubs each record's message and traceback as it is made, so no handler
(the root's, Ray's, one added later) can see a secret.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from core.redact import register_secret, scrub

FIELDS = ("trace_id", "instrument", "stage", "provider", "status")
LOGGER = "stockray"

_scrubbing = False  # whether this process's log-record factory scrubs
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "stockray_log", default=None
)


class Redactor(logging.Filter):
    """Replaces secrets in the formatted message and in the context fields (`core.redact`)."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        for secret in secrets or []:  # one registry per process: errors are scrubbed by it too
            register_secret(secret)

    def redact(self, text: str) -> str:
        """`text` with every known secret and secret-looking token replaced."""
        return scrub(text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Freeze the message (args applied) with secrets removed; always keep the record."""
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for name in FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, self.redact(value))
        return True


class ContextFilter(logging.Filter):
    """Copies the bound context onto each record (explicit `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context fields the record does not already have."""
        for name, value in (_context.get() or {}).items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the context fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger: message [trace_id=… instrument=…]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The plain line plus the context fields that are set."""
        text = super().format(record)
        extra = " ".join(
            f"{n}={getattr(record, n)}" for n in FIELDS if getattr(record, n, None) is not None
        )
        return f"{text} [{extra}]" if extra else text


def _secrets(settings: Any) -> list[str]:
    found = []
    for group in (settings.provider_keys, settings.llm_keys):
        found += [v.get_secret_value() for v in group.values()]
    for url in (settings.database_url, settings.redis_url):
        if url is not None:
            # The password runs to the authority's last "@"; logs may hold it decoded too.
            match = re.search(r"://[^/:@]*:([^/?#\s]+)@", url.get_secret_value())
            if match:
                found += [match[1], unquote(match[1])]
    return found


def scrub_every_record() -> None:
    """Scrub every log record this process makes, whatever its logger (idempotent)."""
    global _scrubbing
    if _scrubbing:
        return
    _scrubbing = True
    make = logging.getLogRecordFactory()

    def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _scrub_record(record)
        return record

    logging.setLogRecordFactory(scrubbed_record)


def _scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when the line is written
        return
    record.msg, record.args = scrub(message), None
    if record.exc_info and not record.exc_text:
        # Formatters print exc_text when it is set, so the raw traceback is never rendered.
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


def configure_logging(settings: Any, stream: Any = None) -> logging.Logger:
    """Set up the `stockray` logger for this process (idempotent); return it.

    Also registers the configured secrets and scrubs every other logger's records too.
    """
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if getattr(handler, "_stockray", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._stockray = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.addFilter(Redactor(_secrets(settings)))
    scrub_every_record()
    handler.setFormatter(JsonFormatter() if settings.log_json else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(settings.log_level)
    logger.propagate = False
    return logger


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind `fields` (trace_id, instrument, stage, provider, status) for the enclosed code."""
    token = _context.set(_merged(fields))
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> None:
    """Bind `fields` for the rest of this context (a job's main, an actor's task)."""
    _context.set(_merged(fields))


def _merged(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {sorted(unknown)}")
    return {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}

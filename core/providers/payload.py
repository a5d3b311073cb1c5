"""Reading decoded provider payloads: every miss or wrong type is a `BadPayload` naming the field.

Parsers call these instead of indexing, so a changed or truncated answer fails with the
provider and the JSON path (`chart.result[0].timestamp`) rather than a KeyError.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from core.errors import BadPayload

_MISSING = object()


def member(provider: str, obj: Any, key: str, path: str, default: Any = _MISSING) -> Any:
    """`obj[key]` where `obj` must be a JSON object; `default` when given and the key is absent."""
    if not isinstance(obj, dict):
        raise BadPayload(provider, f"expected an object, got {type(obj).__name__}", path)
    if key in obj:
        return obj[key]
    if default is not _MISSING:
        return default
    raise BadPayload(provider, "missing field", f"{path}.{key}" if path else key)


def as_dict(provider: str, value: Any, path: str) -> dict[str, Any]:
    """`value` checked to be a JSON object."""
    if not isinstance(value, dict):
        raise BadPayload(provider, f"expected an object, got {type(value).__name__}", path)
    return value


def as_list(provider: str, value: Any, path: str) -> list[Any]:
    """`value` checked to be a JSON array."""
    if not isinstance(value, list):
        raise BadPayload(provider, f"expected an array, got {type(value).__name__}", path)
    return value


def as_str(provider: str, value: Any, path: str) -> str:
    """`value` checked to be a JSON string."""
    if not isinstance(value, str):
        raise BadPayload(provider, f"expected a string, got {type(value).__name__}", path)
    return value


def as_float(provider: str, value: Any, path: str) -> float | None:
    """A number (or numeric string, as Alpha Vantage sends) as float; null stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadPayload(provider, "expected a number, got a boolean", path)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadPayload(provider, f"expected a number, got {value!r:.40}", path) from None
    if math.isnan(number) or math.isinf(number):
        return None
    return number


def as_int(provider: str, value: Any, path: str) -> int | None:
    """A whole number (Yahoo sometimes sends volumes as floats); null stays None."""
    number = as_float(provider, value, path)
    return None if number is None else int(number)


def as_utc(provider: str, value: Any, path: str) -> datetime:
    """A Unix timestamp in seconds as an aware UTC datetime."""
    seconds = as_float(provider, value, path)
    if seconds is None:
        raise BadPayload(provider, "expected a timestamp, got null", path)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise BadPayload(provider, f"timestamp out of range: {seconds}", path) from None


def as_datetime(provider: str, value: Any, path: str, fmt: str | None = None) -> datetime:
    """A date-time string (ISO 8601, or `fmt`) as an aware UTC datetime; naive means UTC."""
    text = as_str(provider, value, path)
    try:
        parsed = datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text)
    except ValueError:
        raise BadPayload(provider, f"unreadable date-time {text!r:.40}", path) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)

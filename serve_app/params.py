"""Strict date and time inputs: ISO 8601 text only.

Pydantic's lax mode would also take `0` or `1700000000` as a date or a time (a Unix
timestamp); the OpenAPI document promises ISO 8601, so anything else is a 422.
"""

# No `from __future__ import annotations`: see serve_app/auth.py (Serve pickles the app).
import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INSTANT = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def _day(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _DAY.match(value)):
        return value
    raise ValueError("expected a date as YYYY-MM-DD")


def _instant(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _INSTANT.match(value)):
        return value
    raise ValueError("expected an ISO 8601 time like 2024-05-01T00:00:00Z")


Day = Annotated[date, BeforeValidator(_day)]
Instant = Annotated[datetime, BeforeValidator(_instant)]

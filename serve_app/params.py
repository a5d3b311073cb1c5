"""Strict inputs: ISO 8601 dates and times in a sane range, no NUL bytes.

Pydantic's lax mode would also take `0` or `1700000000` as a date or a time (a Unix
timestamp); the OpenAPI document promises ISO 8601, so anything else is a 422. Dates are
kept within years 1800-2199, so a default window around one (a year back, a month back)
or a time zone shift never leaves Python's or Postgres' range. Postgres text cannot hold
a NUL byte, so one in the path or query is a 422 before any query runs.
"""

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Request
from pydantic import AfterValidator, BeforeValidator

from serve_app.errors import ApiError

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


EARLIEST, LATEST = date(1800, 1, 1), date(2199, 12, 31)
NUL = "\x00"


def _in_range(value: Any) -> Any:
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"expected a date between {EARLIEST} and {LATEST}")
    return value


Day = Annotated[date, BeforeValidator(_day), AfterValidator(_in_range)]
Instant = Annotated[datetime, BeforeValidator(_instant), AfterValidator(_in_range)]


def window(
    start: datetime | None, end: datetime | None, default: timedelta
) -> tuple[datetime, datetime]:
    """A range query's [start, end): `end` defaults to now and `start` to `default` before
    it; both need a time zone and `start` must come first (400 otherwise)."""
    end = end or datetime.now(UTC)
    start = start or end - default
    if start.tzinfo is None or end.tzinfo is None:
        raise ApiError(400, "invalid_request", "start and end need a time zone (e.g. Z)")
    if start >= end:
        raise ApiError(400, "invalid_request", "start must be before end")
    return start, end


def in_range(value: datetime) -> bool:
    """Whether `value` (e.g. read back from a cursor) is within the accepted dates."""
    return EARLIEST <= value.date() <= LATEST


async def no_nul_bytes(request: Request) -> None:
    """Router dependency: a NUL byte in a path or query parameter is a 422."""
    found = [("path", k, v) for k, v in request.path_params.items()]
    found += [("query", k, v) for k, v in request.query_params.multi_items()]
    problems = [
        {"field": f"{where}.{name.replace(NUL, '')}", "problem": "contains a NUL byte"}
        for where, name, value in found
        if NUL in name or NUL in str(value)
    ]
    if problems:
        raise ApiError(422, "invalid_request", "request validation failed", problems)

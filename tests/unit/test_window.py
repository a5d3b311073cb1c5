"""A range query's window (`serve_app.params.window`), shared by the bars and markers routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from serve_app.errors import ApiError
from serve_app.params import window

YEAR = timedelta(days=365)
T = datetime(2026, 5, 1, tzinfo=UTC)


def test_defaults_end_now_and_start_the_default_before_it() -> None:
    start, end = window(None, None, YEAR)
    assert end.tzinfo is not None and abs(datetime.now(UTC) - end) < timedelta(minutes=1)
    assert end - start == YEAR
    assert window(None, T, YEAR) == (T - YEAR, T)
    assert window(T - timedelta(days=3), T, YEAR) == (T - timedelta(days=3), T)


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (datetime(2026, 1, 1), T, "time zone"),  # naive
        (T, T, "before"),
        (T + timedelta(seconds=1), T, "before"),
    ],
)
def test_bad_windows_are_a_400_naming_why(start: datetime, end: datetime, words: str) -> None:
    with pytest.raises(ApiError) as caught:
        window(start, end, YEAR)
    assert caught.value.status == 400 and words in caught.value.message

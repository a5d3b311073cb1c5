"""Checking recorded admission times against sliding windows."""

from __future__ import annotations

from collections.abc import Sequence


def assert_sliding(times: Sequence[float], requests: int, per_s: float) -> None:
    """Fail if any half-open interval of `per_s` holds more than `requests` of `times`."""
    ordered = sorted(times)
    for i in range(len(ordered) - requests):
        gap = ordered[i + requests] - ordered[i]
        assert gap >= per_s, (
            f"admissions {i} and {i + requests} are {gap:.6f} apart, "
            f"so {requests + 1} fell within {per_s} (limit {requests})"
        )

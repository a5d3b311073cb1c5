"""Threshold pairs `[warn, fail]` as settings take them (`STOCKRAY_DOCTOR_*`), validated."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _rising(levels: tuple[float, float]) -> tuple[float, float]:
    if levels[0] > levels[1]:
        raise ValueError(f"[warn, fail] with warn <= fail; got {list(levels)}")
    return levels


def _falling(levels: tuple[float, float]) -> tuple[float, float]:
    if levels[0] < levels[1]:
        raise ValueError(f"[warn, fail] with warn >= fail; got {list(levels)}")
    return levels


# Worse as the value rises (a percentage, an age) or as it falls (days left).
Rising = Annotated[tuple[float, float], AfterValidator(_rising)]
Falling = Annotated[tuple[float, float], AfterValidator(_falling)]

"""Adjusted price series, derived on read from as-traded bars and corporate actions.

Stored bars are what printed; a split or dividend that arrives later changes the factors
computed here, never a stored bar. Modes:

- `none`: the bars as traded.
- `splits`: a bar traded before a split's ex-date has OHLC ÷ ratio and volume × ratio,
  multiplied over every later split, so a chart reads continuously across splits.
- `all`: splits, and also cash dividends the CRSP/Yahoo way: prices before an ex-date are
  multiplied by (1 − amount / previous close), both as traded, so the ratio holds in any
  share basis; volume is not touched by dividends.

A bar's trading day is its `ts` in the instrument's time zone. For weekly and monthly bars
that is the period's first session, so a period that contains an ex-date is adjusted as a
whole, as if it had traded before it (good enough for charts; use daily bars for returns).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from core.models import Bar, CorporateAction

AdjustMode = Literal["none", "splits", "all"]
MODES: tuple[str, ...] = get_args(AdjustMode)


@dataclass(frozen=True, slots=True)
class Adjusted:
    """Bars in the requested mode, the actions that moved at least one of them (oldest
    first), and notes on actions that could not be applied."""

    mode: str
    bars: list[Bar]
    applied: list[CorporateAction] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Factor:
    """What one action does to every bar traded before its ex-date."""

    action: CorporateAction
    price: float
    volume: float


def _split(action: CorporateAction, notes: list[str]) -> _Factor | None:
    if not action.ratio or action.ratio <= 0:
        notes.append(f"split on {action.ex_date} skipped: its ratio {action.ratio!r} is unusable")
        return None
    return _Factor(action, 1.0 / action.ratio, action.ratio)


def _dividend(
    action: CorporateAction, previous_close: float | None, notes: list[str]
) -> _Factor | None:
    day = action.ex_date
    if action.amount is None or action.amount < 0:
        notes.append(f"dividend on {day} skipped: its amount {action.amount!r} is unusable")
        return None
    if not previous_close or previous_close <= 0:
        notes.append(f"dividend on {day} skipped: the close before its ex-date is unknown")
        return None
    price = 1.0 - action.amount / previous_close
    if price <= 0:
        notes.append(
            f"dividend on {day} skipped: amount {action.amount} is not below the "
            f"previous close {previous_close}"
        )
        return None
    return _Factor(action, price, 1.0)


def _factors(
    actions: Sequence[CorporateAction], previous_closes: Mapping[date, float | None], mode: str
) -> tuple[list[_Factor], list[str]]:
    notes: list[str] = []
    factors: list[_Factor] = []
    for action in sorted(actions, key=lambda a: (a.ex_date, a.kind)):
        if action.kind == "split" and mode in ("splits", "all"):
            factor = _split(action, notes)
        elif action.kind == "dividend" and mode == "all":
            factor = _dividend(action, previous_closes.get(action.ex_date), notes)
        else:
            continue
        if factor is not None:
            factors.append(factor)
    return factors, notes


def _scaled(bar: Bar, price: float, volume: float) -> Bar:
    if price == 1.0 and volume == 1.0:
        return bar

    def times(value: float | None) -> float | None:
        return None if value is None else value * price

    return dataclasses.replace(
        bar,
        open=times(bar.open),
        high=times(bar.high),
        low=times(bar.low),
        close=times(bar.close),
        volume=None if bar.volume is None else round(bar.volume * volume),
    )


def adjust(
    bars: Sequence[Bar],
    actions: Sequence[CorporateAction],
    previous_closes: Mapping[date, float | None],
    mode: str,
    timezone: str,
) -> Adjusted:
    """`bars` (one instrument and interval, as traded) adjusted for `actions` in `mode`.

    `previous_closes` maps each dividend's ex-date to the as-traded close of the last
    session before it; a dividend without one is skipped and named in `notes`.
    """
    if mode not in MODES:
        raise ValueError(f"adjust mode must be one of {', '.join(MODES)}; got {mode!r}")
    if mode == "none" or not bars:
        return Adjusted(mode, list(bars))
    factors, notes = _factors(actions, previous_closes, mode)
    ex_dates = [f.action.ex_date for f in factors]
    # suffix[i]: the product over factors[i:], i.e. over every action on or after ex_dates[i]
    suffix = [(1.0, 1.0)] * (len(factors) + 1)
    for i in range(len(factors) - 1, -1, -1):
        price, volume = suffix[i + 1]
        suffix[i] = (price * factors[i].price, volume * factors[i].volume)
    zone = ZoneInfo(timezone)
    out: list[Bar] = []
    first_moved = len(factors)
    for bar in bars:
        later = bisect.bisect_right(ex_dates, bar.ts.astimezone(zone).date())
        first_moved = min(first_moved, later)
        out.append(_scaled(bar, *suffix[later]))
    return Adjusted(mode, out, [f.action for f in factors[first_moved:]], notes)

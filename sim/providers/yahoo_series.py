"""Yahoo chart arrays built from the generators: timestamps, quote columns, adjclose, events.

Numbers go through float32 (Yahoo's 185.63999938964844); a missing bar is `null` in every
column, as Yahoo sends it.
"""

from __future__ import annotations

import struct
from array import array
from datetime import date, timedelta

from sim.calendar import day_number, day_of, session_open
from sim.intraday import intraday_bars
from sim.prices import PriceModel
from sim.universe import SimInstrument

_NAN = float("nan")
_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


def f32(x: float) -> float:
    """Round-trip through float32, as Yahoo's numbers are."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _f32s(values: list[float]) -> list[float | None]:
    """A column through float32 at once; NaN (a missing bar) becomes null."""
    return [None if x != x else x for x in array("f", values).tolist()]


def daily_series(
    prices: PriceModel,
    inst: SimInstrument,
    interval: str,
    days: tuple[int, int],
    window: tuple[int, int],
    latest: int,
) -> dict:
    """Columns for bars of 1d or longer over trading `days` with timestamps in `window`."""
    bars = prices.daily(inst, *days)
    mult = prices.adjclose_multipliers(inst, bars, latest)
    start, end = window
    rows = []
    for bar, m in zip(bars, mult, strict=True):
        ts = session_open(bar.day, inst.timezone)
        if start <= ts < end:
            rows.append((ts, bar, m))
    out: dict = {k: [] for k in _COLUMNS}
    adjclose: list[float] = []
    for group in _group(rows, interval):
        live = [(ts, bar, m) for ts, bar, m in group if not bar.missing]
        out["timestamp"].append(group[0][0])
        if not live:
            for column in (out["open"], out["high"], out["low"], out["close"], adjclose):
                column.append(_NAN)
            out["volume"].append(None)
            continue
        adj = [bar.adjusted() for _, bar, _ in live]
        out["open"].append(adj[0][0])
        out["high"].append(max(a[1] for a in adj))
        out["low"].append(min(a[2] for a in adj))
        out["close"].append(adj[-1][3])
        out["volume"].append(sum(a[4] for a in adj))
        adjclose.append(adj[-1][3] * live[-1][2])
    for k in ("open", "high", "low", "close"):
        out[k] = _f32s(out[k])
    out["adjclose"] = _f32s(adjclose)
    return out


def intraday_series(
    prices: PriceModel,
    inst: SimInstrument,
    minutes: int,
    days: tuple[int, int],
    window: tuple[int, int],
) -> dict:
    """Columns for `minutes` bars over trading `days` that start within `window`."""
    start, end = window
    out: dict = {k: [] for k in _COLUMNS}
    for bar in intraday_bars(prices, inst, *days, minutes):
        if not start <= bar.ts < end:
            continue
        out["timestamp"].append(bar.ts)
        gone = bar.missing
        out["open"].append(_NAN if gone else bar.open)
        out["high"].append(_NAN if gone else bar.high)
        out["low"].append(_NAN if gone else bar.low)
        out["close"].append(_NAN if gone else bar.close)
        out["volume"].append(None if gone else bar.volume)
    for k in ("open", "high", "low", "close"):
        out[k] = _f32s(out[k])
    return out


def events(
    prices: PriceModel,
    inst: SimInstrument,
    wanted: set[str],
    days: tuple[int, int],
    window: tuple[int, int],
    latest: int,
) -> dict:
    """`events.dividends` / `events.splits` keyed by the ex-day's timestamp string."""
    out: dict = {}
    tz, (first, last), (start, end) = inst.timezone, days, window
    if wanted & {"div", "divs", "dividends"}:
        out["dividends"] = {}
        for d in prices.dividends(inst, latest):
            ts = session_open(d.day, tz)
            if first <= d.number <= last and start <= ts < end:
                out["dividends"][str(ts)] = {"amount": f32(d.amount), "date": ts}
    if any(e.startswith("split") for e in wanted):
        out["splits"] = {}
        for split in inst.splits:
            n = day_number(split.day)
            ts = session_open(day_of(n), tz)
            if first <= n <= min(last, latest) and start <= ts < end:
                out["splits"][str(ts)] = {
                    "date": ts,
                    "numerator": float(split.numerator),
                    "denominator": float(split.denominator),
                    "splitRatio": f"{split.numerator:g}:{split.denominator:g}",
                }
    return out


def _group(rows: list, interval: str) -> list[list]:
    """Daily rows grouped into the interval's buckets (one row per bucket for 1d)."""
    if interval == "1d":
        return [[row] for row in rows]
    if interval == "5d":
        return [rows[i : i + 5] for i in range(0, len(rows), 5)]

    def bucket(day: date) -> tuple:
        if interval == "1wk":
            return (day - timedelta(days=day.weekday()),)
        if interval == "1mo":
            return day.year, day.month
        return day.year, (day.month - 1) // 3

    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault(bucket(row[1].day), []).append(row)
    return list(groups.values())

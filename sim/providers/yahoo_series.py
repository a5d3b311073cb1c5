"""Yahoo chart arrays built from the generators: timestamps, quote columns, adjclose, events.

Numbers go through float32 (Yahoo's 185.63999938964844); a missing bar is `null` in every
column, as Yahoo sends it.
"""

from __future__ import annotations

import struct
from array import array
from datetime import date, timedelta

from sim.calendar import day_number
from sim.intraday import intraday_bars
from sim.prices import DailyBar, PriceModel
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
    live_ts: int | None = None,
) -> dict:
    """Columns for bars of 1d or longer over the sessions in `days` with timestamps in
    `window`; with `live_ts`, a trailing live row of the latest session (Yahoo's live row)."""
    bars = prices.daily(inst, *days)
    mult = prices.adjclose_multipliers(inst, bars, latest)
    scale = prices.split_factor(inst, latest)  # splits not yet effective are not applied
    sessions, (start, end) = inst.sessions, window
    rows = []
    for bar, m in zip(bars, mult, strict=True):
        if sessions.is_session(bar.number):
            ts = sessions.open(bar.number)
            if start <= ts < end:
                rows.append((ts, bar, m))
    out: dict = {k: [] for k in _COLUMNS}
    adjclose: list[float] = []
    if interval == "1d":  # the common case, one bar per row: no aggregation
        _daily_rows(out, adjclose, rows, scale)
    for group in [] if interval == "1d" else _group(rows, interval):
        live = [(ts, bar, m) for ts, bar, m in group if not bar.missing]
        out["timestamp"].append(group[0][0])
        if not live:
            for column in (out["open"], out["high"], out["low"], out["close"], adjclose):
                column.append(_NAN)
            out["volume"].append(None)
            continue
        _append(out, adjclose, [(adjusted(bar, scale), m) for _, bar, m in live])
    if live_ts is not None and rows and rows[-1][1].number == latest and live_ts > rows[-1][0]:
        _, bar, m = rows[-1]
        out["timestamp"].append(live_ts)
        _append(out, adjclose, [(adjusted(bar, scale), m)])
    for k in ("open", "high", "low", "close"):
        out[k] = _f32s(out[k])
    out["adjclose"] = _f32s(adjclose)
    return out


def _daily_rows(out: dict, adjclose: list[float], rows: list, scale: float) -> None:
    """One row per session (interval 1d)."""
    ts_, open_, high, low, close = (out[k] for k in ("timestamp", "open", "high", "low", "close"))
    volume = out["volume"]
    for ts, bar, m in rows:
        ts_.append(ts)
        if bar.missing:
            for column in (open_, high, low, close, adjclose):
                column.append(_NAN)
            volume.append(None)
            continue
        o, h, lo, c, v = adjusted(bar, scale)
        open_.append(o)
        high.append(h)
        low.append(lo)
        close.append(c)
        volume.append(v)
        adjclose.append(c * m)


def adjusted(bar: DailyBar, scale: float) -> tuple[float, float, float, float, int]:
    """Split-adjusted as of the request: `scale` undoes splits after the latest session."""
    o, h, lo, c, v = bar.adjusted()
    if scale == 1.0:
        return o, h, lo, c, v
    return o * scale, h * scale, lo * scale, c * scale, round(v / scale)


def _append(out: dict, adjclose: list[float], adj: list[tuple[tuple, float]]) -> None:
    """One row aggregated from the (adjusted OHLCV, adjclose multiplier) of its sessions."""
    out["open"].append(adj[0][0][0])
    out["high"].append(max(a[1] for a, _ in adj))
    out["low"].append(min(a[2] for a, _ in adj))
    out["close"].append(adj[-1][0][3])
    out["volume"].append(sum(a[4] for a, _ in adj))
    adjclose.append(adj[-1][0][3] * adj[-1][1])


def intraday_series(
    prices: PriceModel,
    inst: SimInstrument,
    minutes: int,
    days: tuple[int, int],
    window: tuple[int, int],
    scale: float = 1.0,
) -> dict:
    """Columns for `minutes` bars over the sessions in `days` that start within `window`."""
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
        out["volume"].append(None if gone else round(bar.volume / scale))
    for k in ("open", "high", "low", "close"):
        out[k] = _f32s([x * scale for x in out[k]] if scale != 1.0 else out[k])
    return out


def events(
    prices: PriceModel,
    inst: SimInstrument,
    wanted: set[str],
    days: tuple[int, int],
    window: tuple[int, int],
    latest: int,
) -> dict:
    """`events.dividends` / `events.splits` keyed by the ex-day's timestamp string; only the
    kinds that have an event in the window (Yahoo leaves out empty ones)."""
    out: dict = {}
    sessions, (first, last), (start, end) = inst.sessions, days, window
    scale = prices.split_factor(inst, latest)
    if wanted & {"div", "divs", "dividends"}:
        dividends = {}
        for d in prices.dividends(inst, latest):
            ts = sessions.open(d.number)
            if first <= d.number <= last and start <= ts < end:
                dividends[str(ts)] = {"amount": f32(d.amount * scale), "date": ts}
        if dividends:
            out["dividends"] = dividends
    if any(e.startswith("split") for e in wanted):
        splits = {}
        for split in inst.splits:
            n = sessions.next_session(day_number(split.day))
            ts = sessions.open(n)
            if first <= n <= min(last, latest) and start <= ts < end:
                splits[str(ts)] = {
                    "date": ts,
                    "numerator": float(split.numerator),
                    "denominator": float(split.denominator),
                    "splitRatio": f"{split.numerator:g}:{split.denominator:g}",
                }
        if splits:
            out["splits"] = splits
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

"""Adjusted series from as-traded bars and actions, on hand-computed numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.adjust import adjust
from core.models import Bar, CorporateAction

NY = "America/New_York"


def bar(ts: datetime, o: float, h: float, lo: float, c: float, v: int, **kw) -> Bar:
    return Bar("AAPL", kw.pop("interval", "1d"), ts, o, h, lo, c, v, "yahoo", **kw)


def at(y: int, m: int, d: int, hour: int = 13, minute: int = 30) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=UTC)  # 13:30 UTC = 09:30 in New York (EDT)


def split(ex: date, ratio: float) -> CorporateAction:
    return CorporateAction("AAPL", "split", ex, ratio, None, "yahoo")


def dividend(ex: date, amount: float | None) -> CorporateAction:
    return CorporateAction("AAPL", "dividend", ex, None, amount, "yahoo")


def ohlcv(b: Bar) -> tuple:
    return (b.open, b.high, b.low, b.close, b.volume)


# AAPL around its 4:1 split, ex-date Monday 2020-08-31, as traded
AROUND_SPLIT = [
    bar(at(2020, 8, 27), 496.0, 504.0, 492.0, 500.0, 1000),
    bar(at(2020, 8, 28), 500.0, 508.0, 496.0, 500.0, 2000),
    bar(at(2020, 8, 31), 127.0, 128.0, 124.0, 125.0, 8000),
    bar(at(2020, 9, 1), 125.0, 127.0, 125.0, 126.0, 9000, partial=True),
]
FOUR_FOR_ONE = split(date(2020, 8, 31), 4.0)


def test_a_four_for_one_split_makes_the_split_adjusted_series_continuous() -> None:
    result = adjust(AROUND_SPLIT, [FOUR_FOR_ONE], {}, "splits", NY)
    assert [ohlcv(b) for b in result.bars] == [
        (124.0, 126.0, 123.0, 125.0, 4000),
        (125.0, 127.0, 124.0, 125.0, 8000),
        (127.0, 128.0, 124.0, 125.0, 8000),
        (125.0, 127.0, 125.0, 126.0, 9000),
    ]
    assert [b.close for b in result.bars] == [125.0, 125.0, 125.0, 126.0]  # no 4x drop
    assert result.applied == [FOUR_FOR_ONE] and result.notes == []
    assert [b.ts for b in result.bars] == [b.ts for b in AROUND_SPLIT]
    assert [b.partial for b in result.bars] == [False, False, False, True]


def test_a_later_split_changes_nothing_as_traded() -> None:
    before = adjust(AROUND_SPLIT, [], {}, "none", NY)
    after = adjust(AROUND_SPLIT, [FOUR_FOR_ONE, split(date(2024, 6, 10), 10.0)], {}, "none", NY)
    assert before.bars == after.bars == AROUND_SPLIT
    assert after.applied == [] and after.mode == "none"


def test_a_split_that_arrives_later_changes_the_factors_of_older_bars() -> None:
    first = adjust(AROUND_SPLIT, [FOUR_FOR_ONE], {}, "splits", NY)
    later = adjust(AROUND_SPLIT, [FOUR_FOR_ONE, split(date(2024, 6, 10), 2.0)], {}, "splits", NY)
    assert [b.close for b in later.bars] == [62.5, 62.5, 62.5, 63.0]
    assert [b.volume for b in later.bars] == [8000, 16000, 16000, 18000]
    assert [b.close for b in first.bars] == [125.0, 125.0, 125.0, 126.0]
    assert [a.ex_date for a in later.applied] == [date(2020, 8, 31), date(2024, 6, 10)]


def test_splits_before_the_first_bar_are_not_listed_as_applied() -> None:
    old = split(date(2014, 6, 9), 7.0)
    result = adjust(AROUND_SPLIT[2:], [old, FOUR_FOR_ONE], {}, "splits", NY)
    assert result.bars == AROUND_SPLIT[2:] and result.applied == []


def test_dividends_scale_prices_by_one_minus_amount_over_previous_close() -> None:
    bars = [
        bar(at(2024, 5, 8), 99.0, 101.0, 98.0, 100.0, 10),
        bar(at(2024, 5, 9), 100.0, 102.0, 99.0, 100.0, 20),
        bar(at(2024, 5, 10), 99.0, 100.0, 98.0, 99.0, 30),  # ex-date: 1.00 paid
    ]
    paid = dividend(date(2024, 5, 10), 1.0)
    result = adjust(bars, [paid], {date(2024, 5, 10): 100.0}, "all", NY)
    closes = [b.close for b in result.bars]
    assert closes == pytest.approx([99.0, 99.0, 99.0])  # 100 × (1 − 1/100)
    assert result.bars[0].open == pytest.approx(98.01)
    assert result.bars[1].high == pytest.approx(100.98)
    assert [b.volume for b in result.bars] == [10, 20, 30]  # dividends leave volume alone
    assert result.applied == [paid]
    splits_only = adjust(bars, [paid], {date(2024, 5, 10): 100.0}, "splits", NY)
    assert splits_only.bars == bars and splits_only.applied == []


def test_splits_and_dividends_multiply_in_as_traded_units() -> None:
    # 2:1 split on 05-14, then 0.50 a share (post-split shares) with a previous close of 50
    bars = [
        bar(at(2024, 5, 13), 100.0, 100.0, 100.0, 100.0, 100),
        bar(at(2024, 5, 14), 50.0, 50.0, 50.0, 50.0, 200),
        bar(at(2024, 5, 20), 49.5, 49.5, 49.5, 49.5, 200),
    ]
    actions = [split(date(2024, 5, 14), 2.0), dividend(date(2024, 5, 20), 0.5)]
    result = adjust(bars, actions, {date(2024, 5, 20): 50.0}, "all", NY)
    assert [b.close for b in result.bars] == pytest.approx([49.5, 49.5, 49.5])
    assert [b.volume for b in result.bars] == [200, 200, 200]
    assert [a.kind for a in result.applied] == ["split", "dividend"]


def test_a_dividend_without_a_previous_close_is_skipped_and_noted() -> None:
    bars = [bar(at(2024, 5, 9), 100.0, 100.0, 100.0, 100.0, 1)]
    known, unknown = dividend(date(2024, 5, 10), 2.0), dividend(date(2024, 8, 9), 1.0)
    result = adjust(bars, [known, unknown], {date(2024, 5, 10): 100.0}, "all", NY)
    assert result.bars[0].close == pytest.approx(98.0)
    assert result.applied == [known]
    assert len(result.notes) == 1 and "2024-08-09" in result.notes[0]
    assert "unknown" in result.notes[0]


def test_unusable_actions_are_skipped_and_noted() -> None:
    bars = [bar(at(2024, 5, 9), 10.0, 10.0, 10.0, 10.0, 1)]
    actions = [split(date(2024, 6, 1), 0.0), dividend(date(2024, 6, 3), 12.0)]
    result = adjust(bars, actions, {date(2024, 6, 3): 10.0}, "all", NY)
    assert result.bars == bars and result.applied == [] and len(result.notes) == 2


def test_mixed_intervals_use_the_trading_day_of_each_bars_ts() -> None:
    ex = split(date(2020, 9, 2), 4.0)  # a Wednesday
    weekly = [
        bar(at(2020, 8, 24), 400.0, 400.0, 400.0, 400.0, 1, interval="1wk"),
        bar(at(2020, 8, 31), 400.0, 400.0, 100.0, 100.0, 1, interval="1wk"),  # holds the ex-date
        bar(at(2020, 9, 8), 100.0, 100.0, 100.0, 100.0, 1, interval="1wk"),  # Tue after Labor Day
    ]
    monthly = [
        bar(at(2020, 8, 3), 400.0, 400.0, 400.0, 400.0, 1, interval="1mo"),
        bar(at(2020, 9, 1), 400.0, 400.0, 100.0, 100.0, 1, interval="1mo"),
        bar(at(2020, 10, 1), 100.0, 100.0, 100.0, 100.0, 1, interval="1mo"),
    ]
    hourly = [
        bar(at(2020, 9, 1, 19), 400.0, 400.0, 400.0, 400.0, 1, interval="1h"),  # 15:30 NY
        bar(at(2020, 9, 2, 13), 100.0, 100.0, 100.0, 100.0, 1, interval="1h"),  # 09:30 NY
    ]
    # weekly/monthly: the period's first session decides, so the period holding the ex-date
    # is divided as a whole (its close reads 25 here; the module docstring says so)
    assert [b.close for b in adjust(weekly, [ex], {}, "splits", NY).bars] == [100.0, 25.0, 100.0]
    assert [b.close for b in adjust(monthly, [ex], {}, "splits", NY).bars] == [100.0, 25.0, 100.0]
    assert [b.close for b in adjust(hourly, [ex], {}, "splits", NY).bars] == [100.0, 100.0]


def test_the_trading_day_is_taken_in_the_instruments_time_zone() -> None:
    # ASX opens 10:00 Sydney = 23:00 UTC the day before (AEDT); ex-date Monday 2024-01-15
    bars = [
        bar(datetime(2024, 1, 11, 23, tzinfo=UTC), 8.0, 8.0, 8.0, 8.0, 5),  # Fri 01-12
        bar(datetime(2024, 1, 14, 23, tzinfo=UTC), 2.0, 2.0, 2.0, 2.0, 20),  # Mon 01-15
    ]
    ex = split(date(2024, 1, 15), 4.0)
    sydney = adjust(bars, [ex], {}, "splits", "Australia/Sydney")
    assert [(b.close, b.volume) for b in sydney.bars] == [(2.0, 20), (2.0, 20)]
    as_utc = adjust(bars, [ex], {}, "splits", "UTC")  # would wrongly divide the 01-15 bar
    assert [b.close for b in as_utc.bars] == [2.0, 0.5]


def test_missing_values_stay_missing_and_bad_modes_are_refused() -> None:
    gap = Bar("AAPL", "1d", at(2020, 8, 28), None, None, None, 500.0, None, "yahoo")
    (adjusted,) = adjust([gap], [FOUR_FOR_ONE], {}, "splits", NY).bars
    assert ohlcv(adjusted) == (None, None, None, 125.0, None)
    assert adjust([], [FOUR_FOR_ONE], {}, "all", NY).bars == []
    with pytest.raises(ValueError, match="none, splits, all"):
        adjust(AROUND_SPLIT, [], {}, "raw", NY)

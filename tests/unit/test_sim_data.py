"""The sim's deterministic generators, without a server: prices, actions, news, filings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sim.calendar import day_number, day_of, last_day_number
from sim.filings import FilingModel
from sim.intraday import intraday_bars
from sim.news import NewsModel, label_of
from sim.prices import PriceModel
from sim.sessions import sessions_for
from sim.universe import Universe

WATCHLIST = "configs/watchlist.yaml"


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe.build(7, extra_symbols=20)


def test_calendar_numbers_weekdays_only() -> None:  # holidays: see test_sim_sessions
    assert day_of(0) == date(2000, 1, 3)
    saturday = date(2024, 1, 6)
    assert day_of(day_number(saturday)) == date(2024, 1, 8)
    assert day_of(last_day_number(saturday)) == date(2024, 1, 5)
    assert all(day_of(n).weekday() < 5 for n in range(0, 3000, 7))
    nyse = sessions_for("NASDAQ", "America/New_York")
    assert nyse.open(day_number(date(2024, 1, 2))) == 1704205800  # 09:30 EST
    assert nyse.open(day_number(date(2024, 7, 1))) == 1719840600  # 09:30 EDT
    krx = sessions_for("KRX", "Asia/Seoul")
    assert krx.open(day_number(date(2024, 1, 3))) == 1704240000  # 09:00 KST


def test_universe_defaults_watchlist_and_synthetic(universe: Universe) -> None:
    ids = [i.id for i in universe.instruments]
    assert ids[:6] == ["AAPL", "MSFT", "NVDA", "005930.KS", "000660.KS", "VOD.L"]
    assert ids[6:8] == ["SIM0001", "SIM0002"] and len(ids) == 26
    assert universe.by_symbol("dart", "00126380").id == "005930.KS"
    assert universe.by_symbol("yahoo", "aapl").id == "AAPL"
    assert universe.find("삼성전자").id == "005930.KS"
    synthetic = [i for i in universe.instruments if i.synthetic]
    assert any(i.splits for i in synthetic) and any(i.dividend for i in synthetic)
    from_yaml = Universe.build(7, WATCHLIST)
    assert [i.id for i in from_yaml.instruments][:5] == ids[:5]
    assert from_yaml.get("000660.KS").korean_name == "SK하이닉스"


def test_prices_are_a_pure_function_of_seed_symbol_and_day(universe: Universe) -> None:
    inst = universe.get("AAPL")
    a, b = PriceModel(7), PriceModel(7)
    n = day_number(date(2015, 3, 2))
    wide = a.daily(inst, n - 500, n + 500)
    narrow = b.daily(inst, n, n + 10)  # generated on its own, in a fresh model
    assert wide[500:511] == narrow
    assert PriceModel(8).daily(inst, n, n + 10) != narrow
    assert all(
        bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high for bar in wide
    )


def test_ten_years_of_daily_bars(universe: Universe) -> None:
    # Their speed is not asserted here (speed belongs in bench/, not in timed tests).
    inst = universe.get("SIM0003")
    first, last = day_number(date(2014, 1, 1)), day_number(date(2024, 1, 1))
    model = PriceModel(7)
    bars = model.daily(inst, first, last)
    multipliers = model.adjclose_multipliers(inst, bars, last)
    assert len(bars) == 2609
    assert len(multipliers) == len(bars)


def test_splits_drop_raw_prices_and_adjusted_prices_are_continuous(universe: Universe) -> None:
    model, nvda = PriceModel(7), universe.get("NVDA")
    n = day_number(date(2024, 6, 10))  # 10:1
    before, on = model.daily(nvda, n - 1, n)
    assert before.factor == 10.0 and on.factor == 1.0
    assert before.close / on.close > 5  # as traded: the split shows
    assert 0.8 < (before.close / before.factor) / on.close < 1.25  # adjusted: continuous
    samsung = universe.get("005930.KS")
    old = model.daily(samsung, day_number(date(2018, 5, 3)), day_number(date(2018, 5, 3)))[0]
    assert old.factor == 50.0 and old.close % 1000 == 0  # KRX tick above 500,000 won


def test_adjclose_factors_follow_dividends(universe: Universe) -> None:
    model, msft = PriceModel(7), universe.get("MSFT")
    asof = day_number(date(2024, 12, 31))
    divs = model.dividends(msft, asof)
    assert len(divs) >= 70 and all(d.day.month in (2, 5, 8, 11) for d in divs)
    last = divs[-1]
    bars = model.daily(msft, last.number - 1, last.number)
    mult = model.adjclose_multipliers(msft, bars, asof)
    prev_close = bars[0].close / bars[0].factor
    assert mult[0] / mult[1] == pytest.approx(1 - last.amount / prev_close)
    assert model.adjclose_multipliers(msft, bars[-1:], last.number) == [1.0]


def test_intraday_bars_stay_inside_the_daily_bar(universe: Universe) -> None:
    model, inst = PriceModel(7), universe.get("005930.KS")
    n = day_number(date(2024, 3, 4))
    (day,) = model.daily(inst, n, n)
    bars = intraday_bars(model, inst, n, n, 5)
    assert len(bars) == 78 and bars[0].ts == inst.sessions.open(n)
    assert bars[0].open == day.open and bars[-1].close == day.close
    assert all(day.low <= b.low <= b.high <= day.high for b in bars)
    assert all(b.open % 50 == 0 for b in bars)  # tick grid
    assert intraday_bars(PriceModel(7), inst, n, n, 5) == bars


def test_news_has_true_labels_korean_text_and_duplicates(universe: Universe) -> None:
    news = NewsModel(7, universe)
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 31, tzinfo=UTC)
    stories = news.window(list(universe.instruments[:5]), start, end)
    assert {s.label for s in stories} == {"positive", "negative", "neutral"}
    assert all(s.label == label_of(s.score) for s in stories)
    korean = [s for s in stories if s.language == "ko"]
    assert korean and all(s.instrument_id.endswith(".KS") for s in korean)
    assert any("삼성전자" in s.title for s in korean)
    tracked = [s for s in stories if len(s.copies_for("newsapi")) == 2]
    assert tracked and all("utm_source=" in s.copies_for("newsapi")[1].url for s in tracked)
    assert any(s.copies_for("newsapi") and s.copies_for("alphavantage") for s in stories)
    assert not any(s.copies_for("alphavantage") for s in korean)
    again = NewsModel(7, universe).window(list(universe.instruments[:5]), start, end)
    assert [s.truth() for s in again] == [s.truth() for s in stories]


def test_filings_have_unique_receipt_numbers(universe: Universe) -> None:
    filings = FilingModel(7)
    year = [
        f
        for inst in universe.instruments[3:5]
        for f in filings.between(inst, date(2024, 1, 1), date(2024, 12, 31))
    ]
    assert len(year) > 200
    assert len({f.rcept_no for f in year}) == len(year)
    assert all(f.rcept_no.startswith(f.rcept_dt.strftime("%Y%m%d")) for f in year)
    assert [f.report_nm for f in year if f.kind == "A"][:2] == [
        "사업보고서 (2023.12)",
        "분기보고서 (2024.03)",
    ]
    assert filings.between(universe.get("AAPL"), date(2024, 1, 1), date(2024, 12, 31)) == []

"""Parsers on REAL recorded provider answers (`payloads/real/`, sources in its INDEX.md).

Every expected value was read by hand from the fixture named in the test, then converted as
the contract says (splits multiplied back to as traded, pence to pounds, session-open stamps).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.errors import BadPayload
from core.models import Bar, CorporateAction, Instrument
from core.providers.alphavantage import parse_daily
from core.providers.dart import dart_error, parse_list
from core.providers.yahoo import parse_chart
from tests.unit.providers.conftest import AAPL, SAMSUNG, utc

REAL = Path(__file__).parent / "payloads" / "real"

NVDA = Instrument("NVDA", "NVIDIA", "NASDAQ", "USD", "America/New_York")
MSFT = Instrument("MSFT", "Microsoft", "NASDAQ", "USD", "America/New_York")
OCDO = Instrument("OCDO.L", "Ocado Group", "LSE", "GBP", "Europe/London")


def real(name: str) -> Any:
    """A real recorded body from `payloads/real/`, decoded."""
    return json.loads((REAL / name).read_text(encoding="utf-8"))


def bar_on(bars: tuple[Bar, ...], ts: datetime) -> Bar:
    (found,) = [bar for bar in bars if bar.ts == ts]
    return found


def ohlcv(bar: Bar) -> tuple[float | None, float | None, float | None, float | None, int | None]:
    return (bar.open, bar.high, bar.low, bar.close, bar.volume)


# --- Yahoo chart -------------------------------------------------------------------------


def test_yahoo_aapl_2020_01_02_multiplied_back_by_the_later_4_for_1_split() -> None:
    """yahoo_chart_aapl_1d_2020_01_02_no_events.json: fetched in 2025, so Yahoo sends
    close 75.0875 (÷4); the 2020-08-31 split comes from outside the window."""
    split = CorporateAction("AAPL", "split", date(2020, 8, 31), 4.0, None, "yahoo")
    series = parse_chart(
        real("yahoo_chart_aapl_1d_2020_01_02_no_events.json"),
        AAPL,
        "1d",
        utc(2020, 1, 1),
        utc(2020, 1, 3),
        later_splits=(split,),
    )
    (bar,) = series.bars
    assert bar.ts == utc(2020, 1, 2, 14, 30)  # 09:30 New York (EST)
    # Yahoo: 74.05999755859375, 75.1500015258789, 73.79750061035156, 75.0875015258789, 135480400
    assert ohlcv(bar) == (296.24, 300.60, 295.19, 300.35, 33870100)
    assert bar.partial is False
    assert series.currency == "USD"


def test_yahoo_aapl_split_day_and_later_bars_are_not_scaled() -> None:
    """yahoo_chart_aapl_1d_2020q3_split_dividend.json: the 4:1 split's ex-date 2020-08-31 is
    the window's first day, so no bar precedes it; the 2020-11-06 dividend 0.205 is as paid."""
    series = parse_chart(
        real("yahoo_chart_aapl_1d_2020q3_split_dividend.json"),
        AAPL,
        "1d",
        utc(2020, 8, 31),
        utc(2020, 11, 7),
    )
    assert len(series.bars) == 49
    first, last = series.bars[0], series.bars[-1]
    assert first.ts == utc(2020, 8, 31, 13, 30)  # 09:30 EDT
    # Yahoo: 127.58000183105469, 131, 126, 129.0399932861328, 225702700
    assert ohlcv(first) == (127.58, 131.0, 126.0, 129.04, 225702700)
    assert last.ts == utc(2020, 11, 6, 14, 30)  # 09:30 EST
    assert ohlcv(last) == (118.32, 119.2, 116.13, 118.69, 114457900)
    assert series.actions == (
        CorporateAction("AAPL", "split", date(2020, 8, 31), 4.0, None, "yahoo"),
        CorporateAction("AAPL", "dividend", date(2020, 11, 6), None, 0.205, "yahoo"),
    )


def test_yahoo_nvda_2021_bars_before_the_4_for_1_split_are_multiplied_by_4() -> None:
    """yahoo_chart_nvda_1d_2021_split.json: events.splits holds 4:1 on 2021-07-20 only."""
    series = parse_chart(
        real("yahoo_chart_nvda_1d_2021_split.json"), NVDA, "1d", utc(2021, 2, 1), utc(2022, 1, 31)
    )
    assert len(series.bars) == 252
    before = bar_on(series.bars, utc(2021, 7, 19, 13, 30))
    on_split = bar_on(series.bars, utc(2021, 7, 20, 13, 30))
    # Yahoo 2021-07-19: 17.915250778198242, 19.04199981689453, 17.86549949645996,
    # 18.77975082397461, 749060000 -> x4 (volume /4)
    assert ohlcv(before) == (71.66, 76.17, 71.46, 75.12, 187265000)
    # Yahoo 2021-07-20: 18.729999542236328, 18.83799934387207, 18.163999557495117,
    # 18.61199951171875, 434687000 -> unchanged
    assert ohlcv(on_split) == (18.73, 18.84, 18.16, 18.61, 434687000)
    assert series.actions == (
        CorporateAction("NVDA", "split", date(2021, 7, 20), 4.0, None, "yahoo"),
    )


def test_yahoo_nvda_2021_as_traded_with_the_2024_10_for_1_split_given() -> None:
    """yahoo_chart_nvda_1d_2021_split.json, fetched 2025-02: Yahoo divided by 4 and by 10."""
    later = CorporateAction("NVDA", "split", date(2024, 6, 10), 10.0, None, "yahoo")
    series = parse_chart(
        real("yahoo_chart_nvda_1d_2021_split.json"),
        NVDA,
        "1d",
        utc(2021, 2, 1),
        utc(2022, 1, 31),
        later_splits=(later,),
    )
    before = bar_on(series.bars, utc(2021, 7, 19, 13, 30))
    on_split = bar_on(series.bars, utc(2021, 7, 20, 13, 30))
    first = series.bars[0]
    assert ohlcv(before) == (716.61, 761.68, 714.62, 751.19, 18726500)  # x40
    assert ohlcv(on_split) == (187.3, 188.38, 181.64, 186.12, 43468700)  # x10
    # 2021-02-01: 13.053250312805176 ... close 13.237000465393066, 217204000 -> x40
    assert first.ts == utc(2021, 2, 1, 14, 30)
    assert (first.open, first.close, first.volume) == (522.13, 529.48, 5430100)


def test_yahoo_msft_2021_dividends_and_a_dividend_day_bar() -> None:
    """yahoo_chart_msft_1d_2021_dividends.json: four dividends, no split."""
    series = parse_chart(
        real("yahoo_chart_msft_1d_2021_dividends.json"),
        MSFT,
        "1d",
        utc(2021, 2, 1),
        utc(2022, 1, 31),
    )
    dividends = [(a.ex_date, a.amount) for a in series.actions if a.kind == "dividend"]
    assert dividends == [
        (date(2021, 2, 17), 0.56),
        (date(2021, 5, 19), 0.56),
        (date(2021, 8, 18), 0.56),
        (date(2021, 11, 17), 0.62),
    ]
    bar = bar_on(series.bars, utc(2021, 2, 17, 14, 30))
    assert ohlcv(bar) == (241.32, 244.31, 240.94, 244.2, 21653500)


def test_yahoo_london_pence_are_converted_to_pounds() -> None:
    """yahoo_chart_ocdo_l_1d_gbp.json: meta.currency "GBp"; 2020-01-02 open 1279.5p,
    high 1286.5699462890625p, low 1258p, close 1259.5p, volume 728520."""
    series = parse_chart(
        real("yahoo_chart_ocdo_l_1d_gbp.json"), OCDO, "1d", utc(2020, 1, 1), utc(2020, 1, 3)
    )
    (bar,) = series.bars
    assert bar.ts == utc(2020, 1, 2, 8, 0)  # 08:00 London (GMT)
    assert bar.open == pytest.approx(12.795)
    assert bar.high == pytest.approx(12.8657)  # 1286.57p at priceHint 2, then /100
    assert bar.low == pytest.approx(12.58)
    assert bar.close == pytest.approx(12.595)
    assert bar.volume == 728520
    assert series.currency == "GBP"


def test_yahoo_london_pence_for_a_non_sterling_instrument_is_bad_payload() -> None:
    """yahoo_chart_ocdo_l_1d_gbp.json: GBp converts to GBP, which a USD instrument is not."""
    wrong = Instrument("OCDO.L", "Ocado Group", "LSE", "USD", "Europe/London")
    with pytest.raises(BadPayload):
        parse_chart(
            real("yahoo_chart_ocdo_l_1d_gbp.json"), wrong, "1d", utc(2020, 1, 1), utc(2020, 1, 3)
        )


def test_yahoo_weekly_live_row_merges_into_its_week() -> None:
    """yahoo_chart_aapl_1wk_live_row.json: five Monday rows, then the live row stamped
    1726776001 (= meta.regularMarketTime, Thu 2024-09-19 16:00:01 EDT) in the 09-16 week."""
    as_of = utc(2024, 9, 19, 20, 0, 1)
    series = parse_chart(
        real("yahoo_chart_aapl_1wk_live_row.json"),
        AAPL,
        "1wk",
        utc(2024, 8, 1),
        utc(2024, 10, 1),
        as_of=as_of,
    )
    assert [bar.ts for bar in series.bars] == [
        utc(2024, 8, 19, 13, 30),
        utc(2024, 8, 26, 13, 30),
        utc(2024, 9, 3, 13, 30),  # Monday 09-02 was Labor Day
        utc(2024, 9, 9, 13, 30),
        utc(2024, 9, 16, 13, 30),
    ]
    assert [bar.partial for bar in series.bars] == [False, False, False, False, True]
    assert ohlcv(series.bars[0]) == (225.72, 228.34, 223.04, 226.84, 188124900)
    # week row 216.54/222.71/213.92/220.69/164771600 + live row 225.14/229.82/224.64/228.87/66307649
    assert ohlcv(series.bars[-1]) == (216.54, 229.82, 213.92, 228.87, 231079249)


def test_yahoo_window_without_bars_has_no_timestamp_and_parses_empty() -> None:
    """yahoo_chart_aapl_1m_weekend_no_timestamp.json: 1m over Sat 2025-02-01; no
    "timestamp" key and `quote: [{}]`."""
    series = parse_chart(
        real("yahoo_chart_aapl_1m_weekend_no_timestamp.json"),
        AAPL,
        "1m",
        utc(2025, 2, 1),
        utc(2025, 2, 2),
    )
    assert series.bars == ()
    assert series.actions == ()


# --- Alpha Vantage -----------------------------------------------------------------------


def test_av_daily_msft_compact() -> None:
    """av_daily_msft_compact_2019.json: 100 days 2019-03-13..2019-08-02, newest first."""
    series = parse_daily(
        real("av_daily_msft_compact_2019.json"), MSFT, utc(2019, 1, 1), utc(2019, 9, 1)
    )
    assert len(series.bars) == 100
    first, last = series.bars[0], series.bars[-1]
    assert first.ts == utc(2019, 3, 13, 13, 30)  # 09:30 EDT
    assert ohlcv(first) == (114.13, 115.0, 113.78, 114.5, 35513750)
    assert last.ts == utc(2019, 8, 2, 13, 30)
    assert ohlcv(last) == (138.09, 138.32, 135.26, 136.9, 30781971)
    dividend_day = bar_on(series.bars, utc(2019, 5, 15, 13, 30))
    assert ohlcv(dividend_day) == (124.26, 126.71, 123.7, 126.02, 24722687)
    assert series.currency == "USD"


# --- DART --------------------------------------------------------------------------------


def test_dart_list_samsung_page() -> None:
    """dart_list_samsung_2023_01_3rows.json: page 1 of 5, three Samsung filings."""
    page = parse_list(
        real("dart_list_samsung_2023_01_3rows.json"), SAMSUNG, utc(2023, 1, 1), utc(2023, 2, 9)
    )
    assert page.total_page == 5
    assert [(d.provider_id, d.title, d.filer) for d in page.disclosures] == [
        ("20230207800704", "최대주주등소유주식변동신고서", "삼성전자"),
        ("20230203000495", "주식등의대량보유상황보고서(일반)", "삼성물산"),
        ("20230202000366", "임원ㆍ주요주주특정증권등소유상황보고서", "송재혁"),
    ]
    assert page.disclosures[0].filed_at == utc(2023, 2, 6, 15, 0)  # 2023-02-07 00:00 KST
    assert page.disclosures[0].url == "https://dart.fss.or.kr/dsaf001/main.do?rcpNo=20230207800704"


def test_dart_list_all_companies_page() -> None:
    """dart_list_all_2023_01_3rows.json: a market-wide page (total_page 5131)."""
    page = parse_list(
        real("dart_list_all_2023_01_3rows.json"), SAMSUNG, utc(2023, 1, 1), utc(2023, 2, 9)
    )
    assert page.total_page == 5131
    second = page.disclosures[1]
    assert second.provider_id == "20230206000423"
    assert second.title == "증권신고서(집합투자증권-회사형)(한화위탁관리부동산투자회사(주))"
    assert second.filer == "한화위탁관리부동산투자회사"
    assert second.filed_at == utc(2023, 2, 5, 15, 0)


def test_dart_status_013_is_no_data_not_an_error() -> None:
    """dart_status_013_no_data.json: {"status":"013","message":"조회된 데이타가 없습니다."}."""
    body = real("dart_status_013_no_data.json")
    page = parse_list(body, SAMSUNG, utc(2020, 1, 1), utc(2021, 1, 1))
    assert page.disclosures == []
    assert page.total_page == 0
    assert dart_error(httpx.Response(200, json=body), body) is None

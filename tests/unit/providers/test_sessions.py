"""Exchange sessions from exchange_calendars: opens, holidays, early closes, periods."""

from __future__ import annotations

from datetime import date

import pytest

from core.models import Instrument
from core.providers.sessions import bar_period, calendar_for, calendar_name, session_open
from tests.unit.providers.conftest import utc


def inst(exchange: str, zone: str, currency: str = "USD") -> Instrument:
    return Instrument("X", "X", exchange, currency, zone)


NASDAQ = inst("NASDAQ", "America/New_York")
KRX = inst("KRX", "Asia/Seoul", "KRW")


@pytest.mark.parametrize(
    ("instrument", "day", "expected"),
    [
        (inst("LSE", "Europe/London", "GBP"), date(2024, 7, 1), utc(2024, 7, 1, 7)),  # 08:00 BST
        (inst("XETRA", "Europe/Berlin", "EUR"), date(2024, 1, 5), utc(2024, 1, 5, 8)),
        (inst("TSE", "Asia/Tokyo", "JPY"), date(2024, 7, 1), utc(2024, 7, 1, 0)),
        (inst("HKEX", "Asia/Hong_Kong", "HKD"), date(2024, 7, 2), utc(2024, 7, 2, 1, 30)),
        (inst("SSE", "Asia/Shanghai", "CNY"), date(2024, 7, 1), utc(2024, 7, 1, 1, 30)),
        (inst("SZSE", "Asia/Shanghai", "CNY"), date(2024, 7, 1), utc(2024, 7, 1, 1, 30)),
        # Jakarta used to fall through a hand table to local midnight: 09:00 WIB is 02:00 UTC.
        (inst("IDX", "Asia/Jakarta", "IDR"), date(2024, 7, 1), utc(2024, 7, 1, 2)),
        (inst("XIDX", "Asia/Jakarta", "IDR"), date(2024, 7, 1), utc(2024, 7, 1, 2)),
        (KRX, date(2024, 7, 1), utc(2024, 7, 1, 0)),
    ],
)
def test_daily_bar_is_stamped_at_the_calendars_open(instrument, day, expected) -> None:
    assert session_open(instrument, day) == expected


def test_exchange_names_map_to_calendars_and_unknown_ones_fall_back_to_the_zone() -> None:
    assert calendar_name(NASDAQ) == "XNYS"
    assert calendar_name(inst("KOSDAQ", "Asia/Seoul")) == "XKRX"
    assert calendar_name(inst("OTC", "America/New_York")) == "XNYS"
    assert calendar_name(inst("NOWHERE", "Europe/Madrid")) is None
    # Neither known: weekdays, 09:00 local, so at least not a midnight stamp.
    assert session_open(inst("NOWHERE", "Europe/Madrid"), date(2024, 7, 1)) == utc(2024, 7, 1, 7)


def test_holidays_and_early_closes() -> None:
    nyse, krx = calendar_for(NASDAQ), calendar_for(KRX)
    assert not nyse.is_session(date(2024, 11, 28))  # Thanksgiving
    assert nyse.close_at(date(2024, 11, 29)) == utc(2024, 11, 29, 18)  # 13:00 early close
    assert not krx.is_session(date(2024, 9, 17))  # Chuseok
    assert krx.is_session(date(2024, 9, 19))


def test_weekly_bar_starts_at_the_first_session_of_its_week() -> None:
    # 2024-09-02 was Labor Day: the week's bar opens on Tuesday, not at Monday 09:30.
    ts, closes_at = bar_period(NASDAQ, "1wk", date(2024, 9, 4))
    assert ts == utc(2024, 9, 3, 13, 30)
    assert closes_at == utc(2024, 9, 6, 20)  # Friday 16:00 EDT
    # Chuseok week 2024-09-16..20 on KRX: Monday, Tuesday and Wednesday were holidays.
    assert bar_period(KRX, "1wk", date(2024, 9, 20))[0] == utc(2024, 9, 19, 0)


def test_monthly_and_quarterly_bars_start_at_the_first_session_of_the_period() -> None:
    assert bar_period(NASDAQ, "1mo", date(2024, 9, 17))[0] == utc(2024, 9, 3, 13, 30)
    ts, closes_at = bar_period(NASDAQ, "3mo", date(2024, 2, 20))
    assert ts == utc(2024, 1, 2, 14, 30)  # 2024-01-01 was a holiday
    assert closes_at == utc(2024, 3, 28, 20)  # Good Friday 03-29: the quarter ends Thursday


def test_daily_bar_on_a_day_the_calendar_does_not_list_gets_the_regular_open() -> None:
    # A provider's row on a calendar holiday is kept, stamped at the usual open.
    assert session_open(NASDAQ, date(2024, 11, 28)) == utc(2024, 11, 28, 14, 30)

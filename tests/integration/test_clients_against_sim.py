"""Every provider client against the simulator over real sockets, with and without faults."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.errors import (
    AuthError,
    BadPayload,
    NotFound,
    QuotaExhausted,
    RateLimited,
    Timeout,
    Unavailable,
)
from core.fingerprint import article_fingerprint
from core.models import Instrument
from core.providers import (
    CLIENTS,
    AlphaVantageClient,
    DartClient,
    NewsApiClient,
    YahooClient,
)
from core.providers.newsapi import ResultCapReached
from sim.server import SimServer

AAPL = Instrument(
    "AAPL", "Apple Inc.", "NASDAQ", "USD", "America/New_York",
    {"yahoo": "AAPL", "alphavantage": "AAPL", "newsapi": "Apple"},
)  # fmt: skip
NVDA = Instrument(
    "NVDA", "NVIDIA Corporation", "NASDAQ", "USD", "America/New_York",
    {"yahoo": "NVDA", "alphavantage": "NVDA", "newsapi": "NVIDIA"},
)  # fmt: skip
SAMSUNG = Instrument(
    "005930.KS", "Samsung Electronics", "KRX", "KRW", "Asia/Seoul",
    {"yahoo": "005930.KS", "alphavantage": "005930.KS", "newsapi": "삼성전자", "dart": "00126380"},
)  # fmt: skip
UNKNOWN = Instrument("ZZZZ", "Nobody", "NASDAQ", "USD", "America/New_York", {"dart": "99999999"})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(seed=7) as server:
        yield server


@pytest.fixture(autouse=True)
def no_faults(sim: SimServer) -> Iterator[None]:
    yield
    sim.clear_faults()


def client(
    sim: SimServer, name: str, key: str | None = "k", timeout_s: float = 10.0, plan: str = ""
):
    options = {"plan": plan} if plan else {}
    return CLIENTS[name](sim.urls[name], api_key=key, timeout_s=timeout_s, **options)


def premium_av(sim: SimServer, key: str = "k"):
    """Alpha Vantage with a premium key: these windows reach past the free plan's 100 days."""
    return client(sim, "alphavantage", key=key, plan="premium")


# --- prices -------------------------------------------------------------------------------

SPLIT_WINDOW = (utc(2024, 5, 20), utc(2024, 6, 20))  # NVDA split 10:1 on 2024-06-10


async def test_yahoo_and_alphavantage_agree_on_daily_timestamps_and_prices(sim) -> None:
    async with client(sim, "yahoo") as yahoo, premium_av(sim) as av:
        y = await yahoo.fetch_bars(NVDA, *SPLIT_WINDOW)
        a = await av.fetch_bars(NVDA, *SPLIT_WINDOW)
    assert y.bars and {b.ts for b in y.bars} <= {b.ts for b in a.bars}
    assert {b.ts.time().isoformat() for b in y.bars} == {"13:30:00"}  # 09:30 EDT
    split = next(x for x in y.actions if x.kind == "split")
    assert (split.ex_date, split.ratio) == (date(2024, 6, 10), 10.0)
    raw = {b.ts: (b.close, b.volume) for b in a.bars}
    # Yahoo answers in today's shares; its parser multiplies back, so both are as traded.
    for bar in y.bars:
        close, volume = raw[bar.ts]
        assert bar.close == pytest.approx(close, rel=1e-6)
        assert bar.volume == pytest.approx(volume, rel=1e-6)
    before = [b for b in y.bars if b.ts.date() < split.ex_date]
    after = [b for b in y.bars if b.ts.date() >= split.ex_date]
    assert before[-1].close / after[0].close > 5  # the as-traded price drops by ~10 on the day
    assert not any(b.partial for b in y.bars + a.bars)  # a past window: every bar final


async def test_yahoo_krx_daily_bars_and_split(sim) -> None:
    async with client(sim, "yahoo") as yahoo:
        series = await yahoo.fetch_bars(SAMSUNG, utc(2018, 4, 20), utc(2018, 5, 20))
    assert {b.ts.time().isoformat() for b in series.bars} == {"00:00:00"}  # 09:00 Seoul
    assert all(utc(2018, 4, 20) <= b.ts < utc(2018, 5, 20) for b in series.bars)
    (split,) = [x for x in series.actions if x.kind == "split"]
    assert (split.ex_date, split.ratio) == (date(2018, 5, 4), 50.0)
    assert series.currency == "KRW"


VODAFONE = Instrument(
    "VOD.L", "Vodafone Group Plc", "LSE", "GBP", "Europe/London",
    {"yahoo": "VOD.L", "alphavantage": "VOD.LON"},
)  # fmt: skip
RECENT = (utc(2024, 3, 1), utc(2024, 4, 1))


async def test_pence_are_stored_as_pounds(sim) -> None:
    async with client(sim, "yahoo") as yahoo:
        series = await yahoo.fetch_bars(VODAFONE, *RECENT)
        assert series.currency == "GBP"
        assert series.bars and all(0.1 < b.close < 5 for b in series.bars)  # ~69p, not 69
        # An instrument declared in another currency than the answer's: rejected, not stored.
        dollars = Instrument("VOD.L", "Vodafone", "LSE", "USD", "Europe/London", {})
        with pytest.raises(BadPayload, match="GBp"):
            await yahoo.fetch_bars(dollars, *RECENT)
    async with premium_av(sim) as av:
        traded = await av.fetch_bars(VODAFONE, *RECENT)
    by_ts = {b.ts: b.close for b in traded.bars}
    assert {b.ts.time().isoformat() for b in series.bars} == {"08:00:00"}  # LSE, GMT in March
    for bar in series.bars:  # AV's pence, converted by the exchange's convention, agree
        assert by_ts[bar.ts] == pytest.approx(bar.close, rel=1e-6)


async def test_yahoo_live_rows_fold_into_their_week(sim) -> None:
    sim.set_scenarios("yahoo", {"live_row": True})
    try:
        now = datetime.now(UTC)
        async with client(sim, "yahoo") as yahoo:
            weeks = await yahoo.fetch_bars(AAPL, now - timedelta(days=60), now, "1wk")
            days = await yahoo.fetch_bars(AAPL, now - timedelta(days=20), now, "1d")
    finally:
        sim.clear_scenarios("yahoo")
    stamps = [b.ts for b in weeks.bars]
    assert len(stamps) == len(set(stamps)) == len({ts.isocalendar()[:2] for ts in stamps})
    assert {ts.astimezone(ZoneInfo("America/New_York")).time() for ts in stamps} == {
        time(9, 30)
    }  # every bar at its week's first session open, none at the live row's 16:00:01
    assert all(not b.partial for b in weeks.bars[:-1])
    assert len({b.ts for b in days.bars}) == len(days.bars)


async def test_yahoo_intraday(sim) -> None:
    end = datetime.now(UTC)
    start = end - timedelta(days=5)
    async with client(sim, "yahoo") as yahoo:
        series = await yahoo.fetch_bars(AAPL, start, end, interval="1h")
    assert series.bars
    assert all(start <= b.ts < end for b in series.bars)
    assert [b.ts for b in series.bars] == sorted({b.ts for b in series.bars})


async def test_yahoo_errors(sim) -> None:
    async with client(sim, "yahoo") as yahoo:
        with pytest.raises(NotFound):
            await yahoo.fetch_bars(UNKNOWN, *SPLIT_WINDOW)
        with pytest.raises(BadPayload, match="60 days"):  # Yahoo's 422 for old intraday data
            await yahoo.fetch_bars(AAPL, utc(2020, 1, 1), utc(2020, 1, 10), interval="5m")


async def test_alphavantage_errors(sim) -> None:
    async with premium_av(sim) as av:
        with pytest.raises(NotFound):
            await av.fetch_bars(UNKNOWN, *SPLIT_WINDOW)
    async with premium_av(sim, key="bad-key") as av:
        with pytest.raises(AuthError):
            await av.fetch_bars(AAPL, *SPLIT_WINDOW)


@pytest.mark.parametrize("variant", ["information", "note", "burst"])
async def test_alphavantage_rate_limit_as_http_200(sim, variant: str) -> None:
    sim.set_faults("alphavantage", {"rate_limit": {"limit": 0, "variant": variant}})
    async with premium_av(sim) as av:
        with pytest.raises(RateLimited) as info:
            await av.fetch_bars(AAPL, *SPLIT_WINDOW)
    if variant == "information":  # "25 requests per day": spent until midnight New York
        assert isinstance(info.value, QuotaExhausted)
        wait = (info.value.reset_at - datetime.now(UTC)).total_seconds()
        assert 0 < wait <= 25 * 3600 and info.value.retry_after == pytest.approx(wait, abs=5)
        reset = info.value.reset_at.astimezone(ZoneInfo("America/New_York"))
        assert reset.time() == time(0, 0)
    else:
        assert type(info.value) is RateLimited
        assert info.value.retry_after == (60.0 if variant == "note" else 1.0)


# --- news ---------------------------------------------------------------------------------


def _expected_newsapi_stories(sim, instrument, language, start, end) -> set[str]:
    """Fingerprints of stories NewsAPI lists (non-removed copy) in [start, end), per the truth."""
    wide = {"from": (start - timedelta(hours=3)).isoformat(), "to": end.isoformat()}
    stories = sim.truth_news(symbol=instrument.id, provider="newsapi", language=language, **wide)
    expected = set()
    for story in stories:
        for copy in story["copies"]:
            when = datetime.fromisoformat(copy["published_at"])
            if copy["provider"] == "newsapi" and not copy["removed"] and start <= when < end:
                expected.add(article_fingerprint(story["url"], story["title"]))
    return expected


async def test_newsapi_korean_news_dedupes_to_the_true_stories(sim) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=20)
    async with client(sim, "newsapi") as news:
        articles = await news.fetch_news(SAMSUNG, start, end)
    assert articles and {a.language for a in articles} == {"ko"}
    assert all(start <= a.published_at < end for a in articles)
    fingerprints = [a.fingerprint for a in articles]
    assert len(fingerprints) == len(set(fingerprints))
    assert set(fingerprints) == _expected_newsapi_stories(sim, SAMSUNG, "ko", start, end)


async def test_newsapi_paginates_and_stops_at_the_plan_cap(sim) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=20)
    async with client(sim, "newsapi") as news:
        news.page_size = 5
        everything = await news.fetch_news(AAPL, start, end, limit=1000)
        sim.set_faults("newsapi", {"max_results": 10})
        capped = await news.fetch_news(AAPL, start, end, limit=1000)
        news.page_size = 20
        with pytest.raises(ResultCapReached):
            await news.fetch_news(AAPL, start, end, limit=1000)
    assert len(everything) > 10
    assert 0 < len(capped) <= 10
    assert {a.fingerprint for a in capped} <= {a.fingerprint for a in everything}


async def test_newsapi_key_and_rate_errors(sim) -> None:
    now = datetime.now(UTC)
    async with client(sim, "newsapi", key="bad-key") as news:
        with pytest.raises(AuthError):
            await news.fetch_news(AAPL, now - timedelta(days=1), now)
    sim.set_faults("newsapi", {"rate_limit": {"limit": 0, "style": "http429"}})
    async with client(sim, "newsapi") as news:
        with pytest.raises(RateLimited) as info:
            await news.fetch_news(AAPL, now - timedelta(days=1), now)
    assert info.value.retry_after is not None and info.value.retry_after >= 1


async def test_alphavantage_news(sim) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=20)
    async with client(sim, "alphavantage") as av:
        articles = await av.fetch_news(AAPL, start, end, limit=50)
    assert articles and len(articles) <= 50
    assert all(a.provider == "alphavantage" and start <= a.published_at < end for a in articles)
    assert [a.published_at for a in articles] == sorted(
        (a.published_at for a in articles), reverse=True
    )


# --- disclosures --------------------------------------------------------------------------


async def test_dart_walks_every_page(sim) -> None:
    end = datetime.now(UTC)
    start = end - timedelta(days=365)
    async with client(sim, "dart") as dart:
        filings = await dart.fetch_disclosures(SAMSUNG, start, end)
    assert len(filings) > 100  # more than one page of 100
    assert len({f.provider_id for f in filings}) == len(filings)
    assert all(start <= f.filed_at < end for f in filings)
    assert {f.filed_at.time().isoformat() for f in filings} == {"15:00:00"}  # 00:00 Seoul
    assert any("보고서" in f.title for f in filings)


async def test_dart_no_data_and_errors(sim) -> None:
    sunday = utc(2024, 1, 6, 15)  # 2024-01-07 00:00 Seoul, a Sunday
    async with client(sim, "dart") as dart:
        assert await dart.fetch_disclosures(SAMSUNG, sunday, sunday + timedelta(days=1)) == []
    async with client(sim, "dart", key="bad-key") as dart:
        with pytest.raises(AuthError, match="010"):
            await dart.fetch_disclosures(SAMSUNG, sunday, sunday + timedelta(days=1))
    sim.set_faults("dart", {"rate_limit": {"limit": 0}})
    async with client(sim, "dart") as dart:
        with pytest.raises(RateLimited, match="020"):
            await dart.fetch_disclosures(SAMSUNG, sunday, sunday + timedelta(days=1))


# --- faults shared by every provider ------------------------------------------------------


def _call(c):
    now = datetime.now(UTC)
    if isinstance(c, YahooClient | AlphaVantageClient):
        return c.fetch_bars(AAPL, now - timedelta(days=30), now)
    if isinstance(c, NewsApiClient):
        return c.fetch_news(AAPL, now - timedelta(days=3), now)
    assert isinstance(c, DartClient)
    return c.fetch_disclosures(SAMSUNG, now - timedelta(days=30), now)


PROVIDERS = ["yahoo", "alphavantage", "newsapi", "dart"]


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        ({"outage": {"mode": "refuse"}}, Unavailable),
        ({"outage": {"mode": "503"}}, Unavailable),
        ({"error_rate": 1.0, "error_status": [500, 502]}, Unavailable),
        ({"malformed_rate": 1.0}, BadPayload),
        ({"truncated_rate": 1.0}, BadPayload),
        ({"slow": {"rate": 1.0, "delay_s": 1.5}}, Timeout),
    ],
    ids=["refused", "outage-503", "5xx", "malformed", "truncated", "slow"],
)
async def test_faults_map_to_typed_errors(sim, name: str, faults: dict, expected: type) -> None:
    sim.set_faults(name, faults)
    async with client(sim, name, timeout_s=0.5) as c:
        with pytest.raises(expected) as info:
            await _call(c)
    assert info.value.provider == name


@pytest.mark.parametrize("name", PROVIDERS)
async def test_healthy_again_after_faults_clear(sim, name: str) -> None:
    async with client(sim, name) as c:
        sim.set_faults(name, {"outage": {"mode": "refuse"}})
        with pytest.raises(Unavailable):
            await _call(c)
        sim.clear_faults(name)
        await _call(c)


async def test_one_client_serves_concurrent_calls(sim) -> None:
    sim.reset_stats()
    async with client(sim, "yahoo") as yahoo:
        results = await asyncio.gather(*(yahoo.fetch_bars(NVDA, *SPLIT_WINDOW) for _ in range(25)))
    assert len({r.bars for r in results}) == 1
    # Each call of a window that ended long ago also asks for the splits since: 2 requests.
    assert sim.stats()["yahoo"]["requests"] == 50

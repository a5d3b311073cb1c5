"""The cycle planner: requests within each provider's limits, batches, deferrals, least time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from core.models import Article, Capability, Instrument
from core.planning import ProviderBudget, least_time_s, plan_cycle
from core.providers.newsapi import (
    BATCH_MAX,
    QUERY_MAX_CHARS,
    NewsApiClient,
    assign_articles,
    batch_query,
    news_batches,
)
from core.resilience.limiter import Window
from jobs.collect_plan import batcher, calls

YAHOO = (Window(5, 1), Window(2000, 3600))
NEWSAPI = (Window(100, 86400),)
AV = (Window(1, 1.2), Window(25, 86400))


def _us(n: int, name: str | None = None) -> Instrument:
    return Instrument(
        id=f"T{n:03d}",
        name=f"Company {n}",
        exchange="NYSE",
        currency="USD",
        timezone="America/New_York",
        symbols={"yahoo": f"T{n:03d}", "newsapi": name or f"Company{n}"},
    )


def _kr(n: int) -> Instrument:
    return Instrument(
        id=f"{n:06d}.KS",
        name=f"회사{n}",
        exchange="KRX",
        currency="KRW",
        timezone="Asia/Seoul",
        symbols={"yahoo": f"{n:06d}.KS", "newsapi": f"회사{n}", "dart": f"{n:08d}"},
    )


def test_least_time_is_set_by_the_tightest_window() -> None:
    assert least_time_s(YAHOO, 0) == 0
    assert least_time_s(YAHOO, 5) == 0  # one burst
    assert least_time_s(YAHOO, 6) == 1
    assert least_time_s(YAHOO, 700) == 139  # 140 seconds' worth of 5, the first at once
    assert least_time_s(YAHOO, 2001) == 3600  # the hourly window decides
    assert least_time_s(AV, 3) == pytest.approx(2.4)


def test_allowance_one_off_uses_what_is_left_and_a_cycle_its_share() -> None:
    news = ProviderBudget("newsapi", NEWSAPI, {"100/86400s": 40})
    assert news.allowance(None) == 40
    assert news.allowance(3600) == 5  # ceil(100 * 3600 / 86400)
    assert ProviderBudget("newsapi", NEWSAPI, {"100/86400s": 3}).allowance(3600) == 3
    yahoo = ProviderBudget("yahoo", YAHOO)
    assert yahoo.allowance(900) == 500  # a quarter of the hourly window
    assert yahoo.allowance(None) == 2000
    assert ProviderBudget("yahoo", YAHOO, exhausted=True).allowance(None) == 0


def test_seven_hundred_instruments_in_an_hourly_cycle() -> None:
    universe = [_us(n) for n in range(500)] + [_kr(n) for n in range(200)]
    budgets = {
        "yahoo": ProviderBudget("yahoo", YAHOO),
        "newsapi": ProviderBudget("newsapi", NEWSAPI),
        "alphavantage": ProviderBudget("alphavantage", AV),
    }
    work = {Capability.PRICES: universe, Capability.NEWS: universe}
    routes = {
        Capability.PRICES: ["yahoo", "alphavantage"],
        Capability.NEWS: ["newsapi", "alphavantage"],
    }
    plan = plan_cycle(work, routes, budgets, 3600, batcher)
    per = plan.requests_by_provider()
    assert per["yahoo"] == 700  # every price, one request each
    assert per["newsapi"] == 5  # its hourly share of 100 a day, ten companies each
    assert per["alphavantage"] == 2  # its share of 25 a day serves two more
    news_units = [u for u in plan.units if u.capability is Capability.NEWS]
    covered = [i for u in news_units for i in u.instrument_ids]
    assert len(covered) == len(set(covered)) == 5 * BATCH_MAX + 2
    assert covered[:BATCH_MAX] == [i.id for i in universe[:BATCH_MAX]]  # stalest first
    deferred = [d for d in plan.deferred if d.capability is Capability.NEWS]
    assert len(plan.deferred) == len(deferred) == 700 - len(covered)
    assert [d.position for d in plan.deferred] == list(range(len(plan.deferred)))
    assert "newsapi" in deferred[0].reason and "alphavantage" in deferred[0].reason
    assert plan.ideal_s == 139  # yahoo's 700 at 5 a second
    summary = plan.summary()
    assert summary["requests"] == 707 and summary["deferred"] == len(deferred)
    assert any("deferred to the next cycle" in line for line in plan.describe())


def test_one_off_run_fits_everything_the_quotas_allow() -> None:
    universe = [_us(n) for n in range(70)]
    budgets = {"newsapi": ProviderBudget("newsapi", NEWSAPI, {"100/86400s": 100})}
    plan = plan_cycle(
        {Capability.NEWS: universe}, {Capability.NEWS: ["newsapi"]}, budgets, None, batcher
    )
    assert plan.requests_by_provider() == {"newsapi": 7} and plan.deferred == []


def test_a_fetch_of_several_calls_spends_that_much_of_the_budget() -> None:
    # Alpha Vantage fundamentals are two calls (income statement, balance sheet): 5 calls
    # left today buy two instruments, not five; prices stay one call each.
    assert calls("alphavantage", Capability.FUNDAMENTALS) == 2
    assert calls("alphavantage", Capability.PRICES) == 1
    assert calls("dart", Capability.FUNDAMENTALS) == 6  # one per report period
    universe = [_us(n) for n in range(4)]
    budgets = {"alphavantage": ProviderBudget("alphavantage", AV, {"25/86400s": 5})}
    routes = {Capability.FUNDAMENTALS: ["alphavantage"]}
    plan = plan_cycle({Capability.FUNDAMENTALS: universe}, routes, budgets, None, batcher, calls)
    assert [u.instrument_ids for u in plan.units] == [("T000",), ("T001",)]
    assert plan.requests_by_provider() == {"alphavantage": 4}
    assert plan.summary()["requests"] == 4
    assert [d.instrument_id for d in plan.deferred] == ["T002", "T003"]
    assert "alphavantage" in plan.deferred[0].reason


def test_no_provider_defers_with_the_reason() -> None:
    plan = plan_cycle({Capability.DISCLOSURES: [_kr(1)]}, {}, {}, None, batcher)
    assert plan.units == [] and plan.deferred[0].reason == "no enabled provider serves it"


def test_news_batches_keep_one_language_and_the_query_length() -> None:
    mixed = [_us(1), _kr(1), _us(2), _kr(2), _us(3)]
    groups = news_batches(mixed)
    assert [[i.id for i in g] for g in groups] == [
        ["T001", "T002", "T003"],
        ["000001.KS", "000002.KS"],
    ]
    long_names = [_us(n, name="N" * 60 + str(n)) for n in range(12)]
    for group in news_batches(long_names):
        assert len(batch_query(group)) <= QUERY_MAX_CHARS and len(group) <= BATCH_MAX
    assert sum(len(g) for g in news_batches(long_names)) == 12
    assert NewsApiClient.batches(Capability.PRICES, mixed) == [[i] for i in mixed]
    assert batch_query([_us(1, 'Say "Hi"'), _us(2, "Apple")]) == '"Say Hi" OR "Apple"'


def test_articles_go_to_the_companies_they_mention() -> None:
    apple, samsung = _us(1, "Apple"), _kr(5)
    samsung = replace(samsung, symbols={**samsung.symbols, "newsapi": "삼성전자"})

    def article(title: str, summary: str | None = None) -> Article:
        return Article(title, f"https://x/{title}", title, summary,
                       datetime(2026, 11, 30, tzinfo=UTC), "newsapi", "en")  # fmt: skip

    found = assign_articles(
        [
            article("Apple raises its dividend"),
            article("Applebee's opens a store"),  # a different word
            article("Chips", "삼성전자 and Apple sign a deal"),
            article("Nothing about them"),
        ],
        [apple, samsung],
    )
    assert [a.title for a in found[apple.id]] == ["Apple raises its dividend", "Chips"]
    assert [a.title for a in found[samsung.id]] == ["Chips"]
    assert found[samsung.id][0].instrument_ids == (samsung.id,)

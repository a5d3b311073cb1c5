"""The rss provider: its parser on a real recorded feed and on the sim's quirky feeds, and
its client against the sim over real sockets (conditional requests, hosts, matching)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from configs.sections import FeedConfig, ProviderConfig
from core.errors import BadPayload, NotFound
from core.models import Capability, Instrument
from core.providers.rss import Feed, RssClient, parse_feed, plain_text
from sim.server import SimServer
from tests.unit.providers.conftest import AAPL, PAYLOADS, SAMSUNG, utc

YAHOO_NEWS = PAYLOADS / "real" / "rss_yahoo_news_2021_05_27_2items.xml"
HYNIX = Instrument("000660.KS", "SK hynix", "KRX", "KRW", "Asia/Seoul",
                   {"yahoo": "000660.KS", "newsapi": "SK하이닉스"})  # fmt: skip
FAST = ProviderConfig(base_url="https://rss.direct", limits=[]).model_copy(
    update={"per_host": None}
)
FEEDS = (
    Feed("https://www.yna.co.kr/rss/economy.xml", "ko"),
    Feed("https://www.yna.co.kr/rss/market.xml", "ko"),  # same host: one limit
    Feed("https://news.example.com/markets.atom", "en"),
    Feed("https://feeds.finance.yahoo.com/rss/2.0/headline?s=AAPL", "en", ("AAPL",)),
)


class _Fast:
    requests, per_s = 100, 1.0


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(seed=7) as server:
        yield server


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=3), now + timedelta(minutes=1)


def _client(sim: SimServer, feeds=FEEDS) -> RssClient:
    return RssClient(sim.urls["rss"], feeds=feeds, direct_base="https://rss.direct",
                     per_host=_Fast())  # fmt: skip


def test_real_yahoo_news_feed() -> None:
    # Values read by hand from the recorded file; its pubDate is ISO 8601, not RFC 822, and
    # its channel title carries a bare "&" (not well-formed XML): both parse.
    entries = parse_feed(YAHOO_NEWS.read_bytes(), "https://news.yahoo.com/rss/")
    assert [(e.guid, e.url, e.published_at) for e in entries] == [
        ("following-san-jose-mass-shooting-014500995.html",
         "https://news.yahoo.com/following-san-jose-mass-shooting-014500995.html",
         utc(2021, 5, 27, 1, 45)),
        ("big-cheese-no-more-uk-112645101.html",
         "https://news.yahoo.com/big-cheese-no-more-uk-112645101.html",
         utc(2021, 5, 27, 11, 26, 45)),
    ]  # fmt: skip
    assert entries[1].title == "Big cheese no more: UK drug dealer caught out by cheese pic"
    assert entries[0].summary is None  # the feed has no <description>


def test_not_a_feed_is_a_bad_payload() -> None:
    with pytest.raises(BadPayload):
        parse_feed(b'{"status": "ok"}', "https://x.example/feed")
    assert plain_text("<b>SK하이닉스</b> &amp; 삼성전자 ") == "SK하이닉스 & 삼성전자"


@pytest.mark.parametrize("path", ["www.yna.co.kr/rss/economy.xml", "news.example.com/a.atom"])
def test_sim_feed_quirks_come_out_clean(sim: SimServer, path: str) -> None:
    raw = httpx.get(f"{sim.urls['rss']}/feeds/{path}").content
    assert b"&lt;b&gt;" in raw and (b">/news/" in raw or b'"/news/' in raw)  # quirks present
    entries = parse_feed(raw, f"https://{path}")
    assert entries, "the sim's feed has items"
    assert all("<" not in e.title for e in entries)  # HTML in titles reduced to text
    assert all(e.url.startswith("https://") for e in entries)  # relative links resolved
    assert len({e.guid for e in entries}) == len(entries)  # the repeated GUID kept once
    undated = [e for e in entries if e.published_at is None]  # undated items stay undated
    assert undated or "yna" in path  # (the Korean feed's few items happen to be all dated)


def test_client_collects_then_gets_304s(sim: SimServer) -> None:
    async def run() -> None:
        start, end = _window()
        async with _client(sim) as client:
            before = sim.stats()["rss"]["by_status"].get("304", 0)
            got = await client.fetch_news_batch([AAPL, SAMSUNG, HYNIX], start, end)
            assert got[AAPL.id] and got[SAMSUNG.id] and got[HYNIX.id]
            for article in got[SAMSUNG.id]:
                text = f"{article.title} {article.summary}"
                assert "삼성전자" in text or "Samsung Electronics" in text
                assert article.instrument_ids == (SAMSUNG.id,) and article.provider == "rss"
                assert article.language == ("ko" if "yna" in (article.source or "") else "en")
                assert start <= article.published_at < end
            assert {a.language for a in got[SAMSUNG.id]} == {"ko", "en"}
            assert all("Apple" in a.title or "AAPL" in a.title for a in got[AAPL.id])
            assert len({a.fingerprint for a in got[AAPL.id]}) == len(got[AAPL.id])
            assert len(client._hosts) == 3  # two yna.co.kr feeds share one host limit
            again = await client.fetch_news_batch([AAPL, SAMSUNG, HYNIX], start, end)
            assert again == {AAPL.id: [], SAMSUNG.id: [], HYNIX.id: []}
            assert sim.stats()["rss"]["by_status"].get("304", 0) - before == len(FEEDS)
            # One instrument (failover, backfill): a 304 re-reads the kept entries.
            single = await client.fetch_news(SAMSUNG, start, end)
            assert {a.fingerprint for a in single} == {a.fingerprint for a in got[SAMSUNG.id]}

    asyncio.run(run())


def test_one_feed_down_the_others_still_count(sim: SimServer) -> None:
    async def run() -> None:
        start, end = _window()
        feeds = (Feed("https://www.yna.co.kr/rss/economy.xml", "ko"),
                 Feed("https://nowhere.example/feed", "en"))  # fmt: skip
        async with RssClient("http://127.0.0.1:9", feeds=feeds[1:],
                             direct_base="https://rss.direct") as dead:  # fmt: skip
            with pytest.raises(Exception) as info:  # every feed failed: the provider did
                await dead.fetch_news_batch([SAMSUNG], start, end)
            assert info.value.__class__.__name__ in ("Unavailable", "Timeout")
        async with _client(sim, feeds) as client:
            got = await client.fetch_news_batch([SAMSUNG], start, end)
            assert got[SAMSUNG.id]

    asyncio.run(run())


def test_feed_urls_and_config() -> None:
    direct = RssClient("https://rss.direct", feeds=FEEDS, direct_base="https://rss.direct")
    assert direct.url_for(FEEDS[3].url) == FEEDS[3].url
    via_sim = RssClient("http://127.0.0.1:1", feeds=FEEDS, direct_base="https://rss.direct")
    assert via_sim.url_for(FEEDS[3].url) == (
        "http://127.0.0.1:1/feeds/feeds.finance.yahoo.com/rss/2.0/headline?s=AAPL"
    )
    config = FAST.model_copy(update={"feeds": [
        FeedConfig(url="https://a.example/rss", language="ko"),
        FeedConfig(url="https://b.example/rss", instruments=["AAPL"], keywords=["iPhone"]),
    ]})  # fmt: skip
    options = RssClient.client_options(config)
    assert options["feeds"] == [
        Feed("https://a.example/rss", "ko", None, ()),
        Feed("https://b.example/rss", "en", ("AAPL",), ("iPhone",)),
    ]
    with pytest.raises(ValueError, match="url"):
        FeedConfig(url="feeds.example/rss")
    assert RssClient.batches(Capability.NEWS, [AAPL, SAMSUNG]) == [[AAPL, SAMSUNG]]


def test_a_404_feed_alone_is_not_found(sim: SimServer) -> None:
    # The sim serves any path; a real 404 comes from a path outside /feeds.
    async def run() -> None:
        start, end = _window()
        client = RssClient(sim.urls["rss"] + "/missing", feeds=FEEDS[:1], direct_base="x://")
        async with client:
            with pytest.raises(NotFound):
                await client.fetch_news_batch([SAMSUNG], start, end)

    asyncio.run(run())

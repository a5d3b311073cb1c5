"""The API with a real-size watchlist: 700 instruments stored through the storage writers,
read back as one `/watchlist` answer (complete, correct, paged) and `/status` while runs go.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from configs.settings import load_settings
from core.models import Article, Bar, CorporateAction, Instrument
from core.storage import job_runs
from core.storage.analyses import store_verdicts
from core.storage.api_keys import create_key
from core.storage.db import connect, sync_instruments
from core.storage.migrations import migrate
from core.storage.progress import record_progress
from core.storage.reports import NewReport, insert_report
from core.storage.writers import write_articles, write_bars, write_corporate_actions
from serve_app.app import build_api
from serve_app.context import AppContext

N = 700
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = [TODAY - timedelta(days=d) for d in (6, 5, 4)]  # three sessions, oldest first


@dataclass
class Scale:
    http: httpx.AsyncClient
    conn: Any
    ctx: AppContext
    expected: dict[str, dict[str, Any]]


def _instrument(i: int) -> Instrument:
    korean = i % 2 == 1
    return Instrument(
        id=f"S{i:04d}",
        name=f"Company {i}",
        exchange="KRX" if korean else "NASDAQ",
        currency="KRW" if korean else "USD",
        timezone="Asia/Seoul" if korean else "America/New_York",
    )


def _closes(i: int) -> list[float]:
    return [100.0 + i, 101.5 + i, 99.25 + i * 2]


def _report(instrument: str, key: str, rating: str, sentiment: float) -> NewReport:
    return NewReport(
        instrument_id=instrument, cache_key=key, window_start=TODAY - timedelta(days=30),
        window_end=TODAY, method="lexicon", model=None, prompt_version="v1", locale="en",
        summary="s", positives=[], concerns=[], outlook="", rating=rating, sentiment=sentiment,
        coverage={}, citations=[],
    )  # fmt: skip


async def _store(conn: Any) -> dict[str, dict[str, Any]]:
    """700 instruments: prices for 9 in 10 (a 2-for-1 split on the last session of every
    50th), analysed articles for every 3rd, two reports for every 4th. The expected rows."""
    instruments = [_instrument(i) for i in range(N)]
    await sync_instruments(conn, instruments)
    expected: dict[str, dict[str, Any]] = {}
    bars, splits, articles, verdicts = [], [], [], []
    for i, inst in enumerate(instruments):
        row: dict[str, Any] = {"last": None, "previous": None, "sentiment": None, "rating": None}
        if i % 10:
            closes = _closes(i)
            bars += [
                Bar(inst.id, "1d", ts, c, c, c, c, 1000 + i, "yahoo")
                for ts, c in zip(DAYS, closes, strict=True)
            ]
            previous = closes[1]
            if i % 50 == 1:  # ex-date on the last session's day: the sessions before ÷ 2
                ex_date = DAYS[2].date()  # Seoul (odd i): the session's own day
                splits.append(CorporateAction(inst.id, "split", ex_date, 2.0, None, "yahoo"))
                previous = closes[1] / 2
            row.update(last=closes[2], previous=previous, last_ts=DAYS[2], previous_ts=DAYS[1])
        if i % 3 == 0:
            scores = {TODAY - timedelta(hours=12): 0.5, TODAY + timedelta(hours=12): -0.2,
                      TODAY + timedelta(hours=13): 0.6}  # fmt: skip
            for k, (at, score) in enumerate(scores.items()):
                fp = f"{inst.id}-{k}"
                articles.append(
                    Article(fp, f"https://news/{fp}", "t", None, at, "newsapi", "en", None,
                            (inst.id,))
                )  # fmt: skip
                verdicts.append((fp, inst.id, "c1", "lexicon", None, "v1", score, "neutral",
                                 None, None))  # fmt: skip
            row["sentiment"] = pytest.approx(0.2)  # today's two: (-0.2 + 0.6) / 2
        expected[inst.id] = row
    await write_bars(conn, bars)
    await write_corporate_actions(conn, splits)
    await write_articles(conn, articles)
    await store_verdicts(conn, verdicts)
    for i in range(0, N, 4):
        inst_id = instruments[i].id
        await insert_report(conn, _report(inst_id, f"{inst_id}-old", "sell", -0.5))
        await insert_report(conn, _report(inst_id, f"{inst_id}-new", "buy", 0.4))
        expected[inst_id]["rating"] = "buy"
    return expected


@pytest.fixture
async def scale(fresh_dsn: str) -> AsyncIterator[Scale]:
    conn = await connect(fresh_dsn)
    await migrate(conn)
    expected = await _store(conn)
    _, key = await create_key(conn, "reader", "read")
    settings = load_settings(database_url=fresh_dsn, api_rate_limit=0)
    groups = {"odd": [f"S{i:04d}" for i in range(1, N, 2)], "few": ["S0010", "S0003"]}
    settings = settings.model_copy(
        update={"watchlist": settings.watchlist.model_copy(update={"groups": groups})}
    )
    app = build_api(settings)
    ctx = app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        http.headers["Authorization"] = f"Bearer {key}"
        yield Scale(http, conn, ctx, expected)
    await ctx.close()
    await conn.close()


async def test_the_watchlist_answers_every_instrument_with_what_was_stored(scale: Scale) -> None:
    answer = await scale.http.get("/api/v1/watchlist")
    assert answer.status_code == 200
    body = answer.json()
    assert body["total"] == N and len(body["instruments"]) == N
    rows = {r["id"]: r for r in body["instruments"]}
    assert list(rows) == sorted(scale.expected)
    for instrument_id, want in scale.expected.items():
        got = rows[instrument_id]
        assert got["last"] == pytest.approx(want["last"]) if want["last"] else got["last"] is None
        assert got["previous"] == (pytest.approx(want["previous"]) if want["previous"] else None)
        assert got["sentiment"] == want["sentiment"], instrument_id
        assert got["rating"] == want["rating"], instrument_id
        if want["last"] is not None:
            assert datetime.fromisoformat(got["last_ts"]) == want["last_ts"]
            assert datetime.fromisoformat(got["previous_ts"]) == want["previous_ts"]
            change = want["last"] - want["previous"]
            assert got["change"] == pytest.approx(change)
            assert got["change_pct"] == pytest.approx(change / want["previous"])
    korean = rows["S0001"]
    assert (korean["currency"], korean["exchange"], korean["name"]) == ("KRW", "KRX", "Company 1")
    # S0001 split 2-for-1 on its last session: the change is the price's, not the split's.
    assert rows["S0001"]["previous"] == pytest.approx((101.5 + 1) / 2)
    assert rows["S0000"]["last"] is None and rows["S0000"]["change"] is None
    assert rows["S0000"]["report_sentiment"] == pytest.approx(0.4)
    assert rows["S0003"]["sentiment_day"] == TODAY.date().isoformat()


async def test_the_watchlist_pages(scale: Scale) -> None:
    whole = (await scale.http.get("/api/v1/watchlist")).json()["instruments"]
    pages = []
    for offset in range(0, N, 300):
        page = (await scale.http.get(f"/api/v1/watchlist?limit=300&offset={offset}")).json()
        assert (page["total"], page["limit"], page["offset"]) == (N, 300, offset)
        pages += page["instruments"]
    assert pages == whole
    beyond = (await scale.http.get("/api/v1/watchlist?offset=5000")).json()
    assert beyond["instruments"] == [] and beyond["total"] == N
    for bad in ("limit=0", "limit=1001", "offset=-1", "sentiment_days=0"):
        assert (await scale.http.get(f"/api/v1/watchlist?{bad}")).status_code == 422, bad


async def test_the_watchlist_of_one_group(scale: Scale) -> None:
    odd = (await scale.http.get("/api/v1/watchlist?group=odd&limit=100&offset=300")).json()
    assert (odd["total"], odd["group"]) == (N // 2, "odd")
    assert [r["id"] for r in odd["instruments"]] == [f"S{i:04d}" for i in range(601, N, 2)]
    few = (await scale.http.get("/api/v1/watchlist?group=few")).json()["instruments"]
    assert [r["id"] for r in few] == ["S0003", "S0010"]
    assert few[1]["last"] is None and few[0]["last"] == pytest.approx(_closes(3)[2])
    unknown = await scale.http.get("/api/v1/watchlist?group=nope")
    assert unknown.status_code == 404 and "few, odd" in unknown.json()["error"]["message"]


async def test_a_cached_watchlist_is_dropped_by_any_instruments_event(scale: Scale) -> None:
    first = await scale.http.get("/api/v1/watchlist?limit=10")
    again = await scale.http.get("/api/v1/watchlist?limit=10")
    assert (first.headers["X-Cache"], again.headers["X-Cache"]) == ("miss", "hit")
    new_close = 555.5
    await write_bars(scale.conn, [Bar("S0002", "1d", TODAY, 1, 1, 1, new_close, 1, "yahoo")])
    scale.ctx.on_event({"type": "bar", "instrument": "S0699", "payload": {}})  # any instrument
    burst = await asyncio.gather(*(scale.http.get("/api/v1/watchlist?limit=10") for _ in range(8)))
    assert sorted(r.headers["X-Cache"] for r in burst) == ["hit"] * 7 + ["miss"]  # one query
    assert len({r.content for r in burst}) == 1
    row = next(r for r in burst[0].json()["instruments"] if r["id"] == "S0002")
    assert row["last"] == new_close and row["previous"] == pytest.approx(_closes(2)[2])


async def test_status_shows_running_runs_and_their_progress(scale: Scale) -> None:
    idle = (await scale.http.get("/api/v1/status")).json()
    assert idle == {"collecting": False, "runs": [], "instruments": N, "with_prices": 630}

    stored = await job_runs.start_run(scale.conn, "collect", "trace-a", {})
    seen = await job_runs.start_run(scale.conn, "analyze", "trace-b", {})
    backfill = await job_runs.start_run(scale.conn, "backfill", "trace-c", {})
    stale = await job_runs.start_run(scale.conn, "collect", "trace-d", {})
    await scale.conn.execute(
        "UPDATE job_runs SET started_at = now() - interval '13 hours' WHERE id = $1", stale
    )
    counts = {"chunks_done": 3, "chunks_failed": 1, "chunks_total": 10}
    await job_runs.update_counts(scale.conn, backfill, counts)
    progress = {"done": 120, "total": 700, "counts": {"fetched": 3}, "last": "S0119"}
    await record_progress(scale.conn, stored, progress)
    scale.ctx.on_event(
        {"type": "job.progress", "instrument": None,
         "payload": {"kind": "analyze", "run_id": str(seen), "done": 2, "total": 9}}
    )  # fmt: skip

    status = (await scale.http.get("/api/v1/status")).json()
    assert status["collecting"] is True
    runs = {r["run_id"]: r for r in status["runs"]}
    assert set(runs) == {str(stored), str(seen), str(backfill)}  # not the abandoned one
    first = runs[str(stored)]
    assert (first["kind"], first["done"], first["total"], first["last"]) == (
        "collect", 120, 700, "S0119",
    )  # fmt: skip
    assert first["counts"] == {"fetched": 3} and first["progress_at"] is not None
    assert (runs[str(seen)]["done"], runs[str(seen)]["total"]) == (2, 9)
    assert (runs[str(backfill)]["done"], runs[str(backfill)]["total"]) == (4, 10)

    for run in (stored, seen, backfill):
        await job_runs.finish_run(scale.conn, run, "succeeded", {})
    done = (await scale.http.get("/api/v1/status")).json()
    assert done["collecting"] is False and done["runs"] == []

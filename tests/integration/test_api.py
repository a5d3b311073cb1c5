"""The REST API on real Postgres data from the sim, through its ASGI app (what Serve hosts)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx
import pyarrow.parquet as pq
import pytest

from configs.settings import load_settings
from core.analysis.pipeline import analyze_articles, write_report
from core.collection import save_news
from core.providers import NewsApiClient, YahooClient
from core.storage import job_runs
from core.storage.api_keys import create_key, revoke_key
from core.storage.db import connect, sync_instruments
from core.storage.dedupe import MemoryDedupe
from core.storage.migrations import migrate
from core.storage.writers import write_bars
from serve_app.app import build_api
from serve_app.context import AppContext
from sim.server import SimServer

START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
async def client(fresh_dsn: str, sim: SimServer):
    """An API client with a read key, on a database holding AAPL's bars, news and a report."""
    sim.clear_faults()
    settings = load_settings(database_url=fresh_dsn)
    instruments = {i.id: i.to_instrument() for i in settings.watchlist.instruments}
    conn = await connect(fresh_dsn)
    await migrate(conn)
    await sync_instruments(conn, instruments.values())
    aapl = instruments["AAPL"]
    yahoo, newsapi = YahooClient(sim.urls["yahoo"]), NewsApiClient(sim.urls["newsapi"], api_key="k")
    await write_bars(conn, (await yahoo.fetch_bars(aapl, START, END)).bars)
    articles = await newsapi.fetch_news(aapl, START, END, limit=100)
    await save_news(conn, None, "AAPL", "newsapi", articles, MemoryDedupe(60))
    await analyze_articles(conn, aapl, START, END, None, "en")
    await write_report(conn, aapl, START, END, "60d", None, "en")
    await job_runs.start_run(conn, "collect", "trace-1", {"tickers": ["AAPL"]})
    _, read_key = await create_key(conn, "reader", "read")
    _, revoked = await create_key(conn, "gone", "read")
    await revoke_key(conn, revoked[3:11])  # sr_<8-char prefix>_<secret>; "_" may be in either
    await yahoo.aclose()
    await newsapi.aclose()
    app = build_api()
    app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        http.headers["Authorization"] = f"Bearer {read_key}"
        yield http, conn, revoked
    await app.state.context.close()
    await conn.close()


async def test_keys_are_required_and_checked(client) -> None:
    http, _, revoked = client
    no_key = await http.get("/api/v1/instruments", headers={"Authorization": ""})
    assert no_key.status_code == 401
    assert no_key.json()["error"]["code"] == "unauthorized"
    bad = await http.get("/api/v1/instruments", headers={"Authorization": f"Bearer {revoked}"})
    assert bad.status_code == 401
    also = await http.get("/api/v1/instruments", headers={"Authorization": "", "X-API-Key": "x"})
    assert also.status_code == 401
    assert (await http.get("/healthz", headers={"Authorization": ""})).status_code == 200


async def test_instruments_and_bars_in_three_formats(client) -> None:
    http, conn, _ = client
    ids = [i["id"] for i in (await http.get("/api/v1/instruments")).json()["instruments"]]
    assert "AAPL" in ids and "005930.KS" in ids
    params = {"start": START.isoformat(), "end": END.isoformat()}
    as_json = (await http.get("/api/v1/instruments/AAPL/bars", params=params)).json()
    stored = await conn.fetchval("SELECT count(*) FROM bars WHERE instrument_id = 'AAPL'")
    assert len(as_json["bars"]) == stored > 30
    as_csv = await http.get(
        "/api/v1/instruments/AAPL/bars", params=params, headers={"Accept": "text/csv"}
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert len(as_csv.text.strip().splitlines()) == stored + 1
    as_parquet = await http.get(
        "/api/v1/instruments/AAPL/bars", params=params,
        headers={"Accept": "application/vnd.apache.parquet"},
    )  # fmt: skip
    assert pq.read_table(io.BytesIO(as_parquet.content)).num_rows == stored
    assert as_json["adjust"] == "splits" and as_json["actions"] == []  # none stored here
    assert "adj_close" not in as_json["bars"][0] and as_json["bars"][0]["partial"] is False


async def test_bars_are_adjusted_on_read_for_the_stored_actions(client) -> None:
    http, conn, _ = client
    split_day, dividend_day = date(2024, 2, 1), date(2024, 2, 9)  # made up for AAPL
    await conn.executemany(
        "INSERT INTO corporate_actions (instrument_id, kind, ex_date, ratio, amount, provider) "
        "VALUES ('AAPL', $1, $2, $3, $4, 'test')",
        [("dividend", dividend_day, None, 0.24), ("split", split_day, 2.0, None)],
    )
    stored = await conn.fetch(
        "SELECT ts, close, volume FROM bars WHERE instrument_id = 'AAPL' AND interval = '1d' "
        "AND ts >= $1 AND ts < $2 ORDER BY ts",
        START, END,
    )  # fmt: skip
    day = [(r["ts"].astimezone(NEW_YORK).date(), r) for r in stored]
    previous_close = [r["close"] for d, r in day if d < dividend_day][-1]
    keep = 1 - 0.24 / previous_close
    params = {"start": START.isoformat(), "end": END.isoformat()}
    url = "/api/v1/instruments/AAPL/bars"
    views = {
        mode: (await http.get(url, params={**params, "adjust": mode})).json()
        for mode in ("none", "splits", "all")
    }
    assert (await http.get(url, params=params)).json() == views["splits"]  # the default
    for mode, view in views.items():
        assert view["adjust"] == mode and len(view["bars"]) == len(stored)
    assert [b["close"] for b in views["none"]["bars"]] == [r["close"] for r in stored]
    split = {"kind": "split", "ex_date": "2024-02-01", "ratio": 2.0, "amount": None}
    dividend = {"kind": "dividend", "ex_date": "2024-02-09", "ratio": None, "amount": 0.24}
    assert views["none"]["actions"] == []
    assert views["splits"]["actions"] == [split]
    assert views["all"]["actions"] == [split, dividend]
    for (d, row), s, a in zip(day, views["splits"]["bars"], views["all"]["bars"], strict=True):
        ratio = 2.0 if d < split_day else 1.0
        assert s["close"] == pytest.approx(row["close"] / ratio)
        assert s["volume"] == round(row["volume"] * ratio)
        assert a["close"] == pytest.approx(s["close"] * (keep if d < dividend_day else 1.0))
    as_csv = await http.get(url, params=params, headers={"Accept": "text/csv"})
    assert as_csv.text.splitlines()[0] == "ts,open,high,low,close,volume,provider,partial"
    listed = (await http.get("/api/v1/instruments/AAPL/actions")).json()
    assert listed["currency"] == "USD"
    assert listed["actions"] == [{**split, "provider": "test"}, {**dividend, "provider": "test"}]
    assert (await http.get("/api/v1/instruments/TSLA/actions")).status_code == 404
    bad = await http.get(url, params={"adjust": "adjusted"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    assert bad.json()["error"]["details"][0]["field"] == "query.adjust"


async def test_bad_input_is_a_4xx_in_the_one_error_shape(client) -> None:
    http, _, _ = client
    unknown = await http.get("/api/v1/instruments/TSLA/bars")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    naive = await http.get("/api/v1/instruments/AAPL/bars", params={"start": "2024-01-01T00:00"})
    assert naive.status_code == 400
    invalid = await http.get("/api/v1/instruments/AAPL/news", params={"limit": 1000})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_request"
    assert invalid.json()["error"]["details"][0]["field"] == "query.limit"
    cursor = await http.get("/api/v1/instruments/AAPL/news", params={"cursor": "nonsense"})
    assert cursor.status_code == 400
    assert (await http.get("/api/v1/reports/not-a-uuid")).status_code == 404


async def test_news_pages_with_a_cursor_without_gaps_or_repeats(client) -> None:
    http, conn, _ = client
    seen, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/api/v1/instruments/AAPL/news", params=params)).json()
        seen += [a["id"] for a in page["articles"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    linked = await conn.fetchval(
        "SELECT count(*) FROM article_instruments WHERE instrument_id = 'AAPL'"
    )
    assert len(seen) == len(set(seen)) == linked > 7


async def test_analysis_report_with_resolved_citations_jobs_and_costs(client) -> None:
    http, _, _ = client
    view = (await http.get("/api/v1/instruments/AAPL/analysis", params={"days": 3650})).json()
    report = view["report"]
    assert report["method"] == "lexicon" and report["status"] == "published"
    assert report["citations"] and all(c["title"] and c["url"] for c in report["citations"])
    assert view["timeline"]
    listed = (await http.get("/api/v1/reports", params={"instrument": "AAPL"})).json()
    assert [r["id"] for r in listed["reports"]] == [report["id"]]
    one = (await http.get(f"/api/v1/reports/{report['id']}")).json()
    assert one["id"] == report["id"]
    runs = (await http.get("/api/v1/jobs")).json()["jobs"]
    assert runs[0]["trace_id"] == "trace-1"
    assert (await http.get(f"/api/v1/jobs/{runs[0]['id']}")).json()["status"] == "running"
    costs = (await http.get("/api/v1/costs")).json()
    assert costs["spend"] == [] and costs["budget"]["daily_usd"] == 5.0

"""`GET /api/v1/watchlist?spark=N`: each row's last N daily closes for the dashboard's
sparklines, read with the rest of the row (split-adjusted, oldest first), on real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from configs.settings import load_settings
from core.models import Bar, CorporateAction, Instrument
from core.storage.api_keys import create_key
from core.storage.db import connect, sync_instruments
from core.storage.migrations import migrate
from core.storage.writers import write_bars, write_corporate_actions
from serve_app.app import build_api
from serve_app.context import AppContext

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = [TODAY - timedelta(days=40 - d) for d in range(40)]  # 40 sessions, oldest first
NY = "America/New_York"


def _close(i: int) -> float:
    return 100.0 + i * 0.5


@pytest.fixture
async def http(fresh_dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API over a database with three instruments: AAA with 40 daily closes, SPL with
    40 and a 4-for-1 split 10 sessions ago, NONE with no bars."""
    conn = await connect(fresh_dsn)
    await migrate(conn)
    await sync_instruments(
        conn,
        [
            Instrument("AAA", "Aaa Corp", "NASDAQ", "USD", NY, {"newsapi": "에이"}),
            Instrument("NONE", "No Bars", "NASDAQ", "USD", NY),
            Instrument("SPL", "Split Co", "NASDAQ", "USD", NY),
        ],
    )
    bars = [
        Bar(inst, "1d", ts, c, c, c, c, 10, "yahoo")
        for inst in ("AAA", "SPL")
        for ts, c in ((ts, _close(i)) for i, ts in enumerate(DAYS))
    ]
    await write_bars(conn, bars)
    # A bar at 00:00 UTC trades on the day before in New York: the ex-date DAYS[29]'s date
    # is the day of session 30 (the first one after the split).
    split = CorporateAction("SPL", "split", DAYS[29].date(), 4.0, None, "yahoo")
    await write_corporate_actions(conn, [split])
    _, key = await create_key(conn, "reader", "read")
    settings = load_settings(database_url=fresh_dsn, api_rate_limit=0)
    app = build_api(settings)
    ctx = app.state.context = AppContext(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client
    await ctx.close()
    await conn.close()


async def test_spark_adds_the_last_daily_closes_oldest_first(http: httpx.AsyncClient) -> None:
    body = (await http.get("/api/v1/watchlist?spark=30")).json()
    assert body["spark"] == 30
    rows = {r["id"]: r for r in body["instruments"]}
    assert rows["AAA"]["sparkline"] == [_close(i) for i in range(10, 40)]
    assert rows["AAA"]["last"] == rows["AAA"]["sparkline"][-1]
    assert rows["AAA"]["previous"] == rows["AAA"]["sparkline"][-2]
    assert rows["AAA"]["symbols"] == {"newsapi": "에이"}
    # Sessions before the split's ex-date are divided by its ratio, as `last` and `/bars` are.
    assert rows["SPL"]["sparkline"] == [_close(i) / 4 for i in range(10, 30)] + [
        _close(i) for i in range(30, 40)
    ]
    assert rows["NONE"]["sparkline"] == [] and rows["NONE"]["last"] is None

    few = (await http.get("/api/v1/watchlist?spark=3&limit=1")).json()["instruments"]
    assert [r["sparkline"] for r in few] == [[_close(37), _close(38), _close(39)]]
    plain = (await http.get("/api/v1/watchlist")).json()
    assert plain["spark"] == 0 and all(r["sparkline"] == [] for r in plain["instruments"])
    assert {r["id"]: r["last"] for r in plain["instruments"]} == {
        "AAA": _close(39), "NONE": None, "SPL": _close(39),
    }  # fmt: skip
    for bad in ("spark=-1", "spark=91"):
        assert (await http.get(f"/api/v1/watchlist?{bad}")).status_code == 422, bad


async def test_spark_answers_are_cached_apart(http: httpx.AsyncClient) -> None:
    first = await http.get("/api/v1/watchlist?spark=5")
    other = await http.get("/api/v1/watchlist?spark=6")
    again = await http.get("/api/v1/watchlist?spark=5")
    assert [r.headers["X-Cache"] for r in (first, other, again)] == ["miss", "miss", "hit"]
    lengths = [len(r.json()["instruments"][0]["sparkline"]) for r in (first, other, again)]
    assert lengths == [5, 6, 5]

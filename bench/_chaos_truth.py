"""What the chaos bench should find stored (from the sim's truth) and what it does find.

Expected bars are what the sim's Yahoo server answers for the backfill window (as
`tests/integration/test_jobs.py` computes them); expected articles are the sim's true
stories in the news window with a copy NewsAPI lists (not `[Removed]`). Stored figures
come from the database only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from bench._chaos_stack import sql_rows
from configs.settings import PACKAGE_CONFIG_DIR
from core.models import Instrument
from core.providers import YahooClient


def watchlist() -> list[Instrument]:
    """The shipped watchlist (what `stockray up` registers)."""
    data = yaml.safe_load((Path(PACKAGE_CONFIG_DIR) / "watchlist.yaml").read_text())
    return [
        Instrument(
            i["id"],
            i["name"],
            i["exchange"],
            i["currency"],
            i["timezone"],
            dict(i.get("symbols") or {}),
        )
        for i in data["instruments"]
    ]


async def expected_bars(
    yahoo_url: str, instruments: list[Instrument], start: datetime, end: datetime
) -> dict[str, int]:
    """Per instrument, the bars the sim's Yahoo serves in [start, end)."""
    client = YahooClient(yahoo_url)
    try:
        out = {}
        for instrument in instruments:
            bars = (await client.fetch_bars(instrument, start, end)).bars
            out[instrument.id] = sum(1 for b in bars if start <= b.ts < end)
        return out
    finally:
        await client.aclose()


async def stored_bars(dsn: str, start: datetime, end: datetime) -> dict[str, int]:
    """Per instrument: daily bars stored in [start, end), and the duplicates among them."""
    rows = await sql_rows(
        dsn,
        "SELECT instrument_id, count(*) AS n, count(DISTINCT ts) AS distinct_ts FROM bars "
        "WHERE interval = '1d' AND ts >= $1 AND ts < $2 GROUP BY instrument_id",
        start,
        end,
    )
    return {r["instrument_id"]: (r["n"], r["n"] - r["distinct_ts"]) for r in rows}


def _bare(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}".rstrip("/")


async def truth_stories(
    dsn: str, admin_url: str, instruments: list[Instrument], start: datetime, end: datetime
) -> dict[str, Any]:
    """The sim's stories each stored news chunk in [start, end) should hold: those the
    provider that served the chunk lists (NewsAPI's `[Removed]` copies aside), by id."""
    symbols = {i.id: i.symbol_for("yahoo") for i in instruments}
    chunks = await sql_rows(
        dsn,
        "SELECT DISTINCT instrument_id, period_start, period_end, provider FROM backfill_chunks "
        "WHERE capability = 'news' AND status = 'done' AND period_start < $2 AND period_end > $1",
        start,
        end,
    )
    stories: dict[str, Any] = {}
    for chunk in chunks:
        first, last = max(chunk["period_start"], start), min(chunk["period_end"], end)
        answer = httpx.get(
            f"{admin_url}/_sim/truth/news",
            params={
                "symbol": symbols[chunk["instrument_id"]],
                "from": first.isoformat(),
                "to": last.isoformat(),
                "provider": chunk["provider"],
            },
            timeout=30,
        )
        answer.raise_for_status()
        for story in answer.json()["stories"]:
            copies = story["copies"]
            if any(c["provider"] == chunk["provider"] and not c["removed"] for c in copies):
                stories[story["id"]] = {**story, "served_by": chunk["provider"]}
    return stories


async def articles_lost(dsn: str, stories: dict[str, Any]) -> dict[str, Any]:
    """True stories with no stored article at their URL (tracking query parameters aside)."""
    rows = await sql_rows(dsn, "SELECT url FROM articles")
    stored = {_bare(r["url"]) for r in rows}
    missing = [s for s in stories.values() if _bare(s["url"]) not in stored]
    return {
        "articles_expected": len(stories),
        "articles_stored": len(rows),
        "articles_lost": len(missing),
        "articles_lost_samples": [
            {k: s[k] for k in ("id", "url", "published_at", "served_by")} for s in missing[:3]
        ],
    }


async def budget_overspend(dsn: str) -> dict[str, float]:
    """Today's LLM spend (llm_usage) against today's limit (llm_budget)."""
    spent = await sql_rows(
        dsn,
        "SELECT coalesce(sum(cost_micro), 0) AS s FROM llm_usage "
        "WHERE (at AT TIME ZONE 'UTC')::date = (now() AT TIME ZONE 'UTC')::date",
    )
    limit = await sql_rows(
        dsn, "SELECT limit_micro FROM llm_budget WHERE day = (now() AT TIME ZONE 'UTC')::date"
    )
    spent_usd = float(spent[0]["s"]) / 1e6
    limit_usd = float(limit[0]["limit_micro"]) / 1e6 if limit else None
    over = max(0.0, spent_usd - limit_usd) if limit_usd is not None else 0.0
    return {
        "llm_spent_usd": spent_usd,
        "llm_budget_usd": limit_usd,
        "budget_overspend_usd": round(over, 6),
    }


def day_bounds(first: str, last: str) -> tuple[datetime, datetime]:
    """[first 00:00 UTC, the day after last 00:00 UTC)."""
    start = datetime.fromisoformat(first + "T00:00:00+00:00")
    return start, datetime.fromisoformat(last + "T00:00:00+00:00") + timedelta(days=1)

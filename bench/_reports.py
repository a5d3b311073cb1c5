"""`bench.analysis`'s report measurement: how grounded the published reports' numbers are.

For each watchlist instrument: a year of the sim's bars and its news in the window are
stored, the articles scored (lexicon: the verdicts are not what is measured here), then a
report is written through the gateway on the sim's LLM while the sim adds, to a share
`UNGROUNDED_RATE` of its notes, a claim whose number no fact gives. Measured on the stored
reports: `report_numbers_grounded`, the share of numbers in published prose that match a
fact cited where they stand (`core.analysis.grounding.numbers_grounded_share`, weighted by
the numbers of each report; goal 1.0), the claims dropped for failing it after the one
repair, how often the model's rating differed from ours, and the facts per report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bench._analysis_runs import Gateway, Labelled
from bench._stack import EmbeddedPostgres
from configs.sections import ModelPrice
from core.analysis.grounding import numbers_grounded_share, numbers_in
from core.analysis.pipeline import analyze_articles, write_report
from core.collection import save_news
from core.models import Instrument
from core.providers.yahoo import YahooClient
from core.storage.db import connect
from core.storage.dedupe import MemoryDedupe
from core.storage.writers import write_bars, write_corporate_actions
from sim.server import SimServer

UNGROUNDED_RATE = 0.5
DATABASE = "bench_analysis_reports"


def _prose_numbers(row: Mapping[str, Any]) -> int:
    parts = [row["summary"] or "", row["outlook"] or ""]
    parts += [
        c["text"] for c in [*row["positives"], *row["concerns"]] if c.get("kind") != "headline"
    ]
    return sum(len(numbers_in(p)) for p in parts)


async def measure_reports(
    sim: SimServer,
    pg: EmbeddedPostgres,
    items: Sequence[Labelled],
    window: tuple[datetime, datetime],
    prices: Mapping[str, ModelPrice],
    faults: Mapping[str, Any],
) -> dict[str, Any]:
    """Write one report per instrument on the sim's LLM and measure the stored reports."""
    start, end = window
    instruments: dict[str, Instrument] = {i.instrument.id: i.instrument for i in items}
    dsn = await pg.fresh_database(DATABASE, list(instruments.values()))
    conn = await connect(dsn)
    yahoo = YahooClient(sim.urls["yahoo"])
    sim.set_faults("llm", {**faults, "ungrounded_rate": UNGROUNDED_RATE})
    try:
        for instrument in instruments.values():
            series = await yahoo.fetch_bars(instrument, start - timedelta(days=400), end)
            await write_bars(conn, series.bars)
            await write_corporate_actions(conn, series.actions)
            mine = [i.article for i in items if i.instrument.id == instrument.id]
            await save_news(conn, None, instrument.id, "newsapi", mine, MemoryDedupe(3600))
            await analyze_articles(conn, instrument, start, end, None, "en")
        async with Gateway(dsn, sim, 4, prices, 5.0, 0.05) as gateway:
            for instrument in instruments.values():
                await write_report(
                    conn, instrument, start, end, "90d", gateway.complete, "en", "bench-reports"
                )
        rows = await conn.fetch("SELECT * FROM reports WHERE status = 'published'")
    finally:
        sim.set_faults("llm", dict(faults))
        await yahoo.aclose()
        await conn.close()
    weights = [(_prose_numbers(r), numbers_grounded_share(dict(r))) for r in rows]
    numbers = sum(n for n, _ in weights)
    grounded = sum(n * share for n, share in weights)
    await pg.drop_database(DATABASE)
    return {
        "reports": len(rows),
        "reports_by_model": sum(r["method"] == "llm" for r in rows),
        "report_sim_ungrounded_rate": UNGROUNDED_RATE,
        "report_numbers": numbers,
        "report_numbers_grounded": round(grounded / numbers, 4) if numbers else 1.0,
        "report_dropped_claims": sum(r["dropped_claims"] for r in rows),
        "report_rating_disagrees": sum(r["rating_disagrees"] for r in rows),
        "report_facts_per_report": round(sum(len(r["facts"]) for r in rows) / max(1, len(rows)), 1),
    }

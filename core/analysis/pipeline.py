"""Analysing one instrument's articles (Ray-free); its report is written by
`core.analysis.report.write_report`, re-exported here.

`complete` is the LLM gateway's `complete` (or None: no usable endpoint). Articles are
sent in batches sized by the prompt budget; each verdict is stored keyed by (article,
instrument, model, prompt version), so a re-run finds it and costs nothing. When the daily
budget is spent, the rest is scored by the lexicon and the counts say so. A batch the model
cannot answer validly (after the one repair) or at all is scored by the lexicon too, each
article marked with the reason (in its gist), and the report says it is degraded: nothing
is left blank. Nothing from an answer that failed validation is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from core.analysis.lexicon import SUPPORTED_LANGUAGES, UnsupportedText, score_article
from core.analysis.prompts import (
    PROMPT_VERSION,
    ArticleVerdicts,
    article_messages,
    batches,
    cache_key,
    check_verdicts,
)
from core.analysis.report import Complete, write_report
from core.errors import BudgetExceeded, LLMError
from core.models import Article, Instrument
from core.storage.analyses import pending_articles, store_verdicts

__all__ = ["Complete", "analyze_articles", "cache_key", "write_report"]

MAX_PROMPT_TOKENS = 3000  # per batch: several articles per prompt, well inside any window


async def _store(
    conn: asyncpg.Connection, instrument_id: str, rows: list[tuple], method: str, model: str | None
) -> None:
    await store_verdicts(
        conn,
        [
            (fp, instrument_id, cache_key(fp, instrument_id, model or method, PROMPT_VERSION),
             method, model, PROMPT_VERSION, s, label, rel, gist)
            for fp, s, label, rel, gist in rows
        ],
    )  # fmt: skip


async def _lexicon(
    conn: asyncpg.Connection, instrument_id: str, articles: list[Article], note: str | None = None
) -> int:
    """Score `articles` by the lexicon; `note` (why not by the LLM) becomes their gist."""
    scored = [(a.fingerprint, score_article(a)) for a in articles]
    gist = f"lexicon in place of the LLM: {note}"[:300] if note else ""
    await _store(
        conn, instrument_id,
        [(fp, s.score, s.label, None, gist) for fp, s in scored], "lexicon", None,
    )  # fmt: skip
    return len(scored)


def _usable(article: Article) -> bool:
    if not (article.title or "").strip() or article.language not in SUPPORTED_LANGUAGES:
        return False
    try:
        score_article(article)
    except UnsupportedText:
        return False
    return True


async def analyze_articles(
    conn: asyncpg.Connection,
    instrument: Instrument,
    start: datetime,
    end: datetime,
    complete: Complete | None,
    locale: str,
    trace_id: str | None = None,
) -> dict[str, Any]:
    """Score the instrument's not-yet-analysed articles in [start, end)."""
    methods = ["llm"] if complete else ["llm", "lexicon"]
    articles = await pending_articles(conn, instrument.id, start, end, PROMPT_VERSION, methods)
    usable = [a for a in articles if _usable(a)]
    counts: dict[str, Any] = {
        "articles": len(articles), "skipped": len(articles) - len(usable), "analysed": 0,
        "failed": 0, "lexicon": 0, "llm_calls": 0, "cost_usd": 0.0,
        "method": "llm" if complete else "lexicon", "degraded": None,
    }  # fmt: skip
    pending = batches(usable, MAX_PROMPT_TOKENS)
    while pending and complete is not None and counts["degraded"] is None:
        batch = pending.pop(0)
        messages, ids = article_messages(instrument, batch, locale)
        try:
            done = await complete(
                messages, max_tokens=min(80 * len(batch) + 64, 4000), schema=ArticleVerdicts,
                check=check_verdicts(set(ids)), purpose="articles", trace_id=trace_id,
                ids=sorted(ids),
            )  # fmt: skip
        except BudgetExceeded as err:
            counts["degraded"] = f"lexicon from here on: {err}"
            pending.insert(0, batch)
            break
        except LLMError as err:  # nothing half-parsed is stored: the lexicon scores the batch
            reason = f"{type(err).__name__}: {err}"[:300]
            counts.setdefault("errors", []).append(reason)
            counts["lexicon"] += await _lexicon(conn, instrument.id, batch, reason)
            continue
        counts["llm_calls"] += 1
        counts["cost_usd"] += done.cost_usd
        verdicts = [
            (ids[v.id].fingerprint, v.sentiment, v.label, v.relevance, v.gist)
            for v in done.parsed.articles
        ]
        await _store(conn, instrument.id, verdicts, "llm", done.model)
        counts["analysed"] += len(verdicts)
    if pending and (complete is None or counts["degraded"]):
        rest = [a for b in pending for a in b]
        counts["lexicon"] += await _lexicon(conn, instrument.id, rest, counts["degraded"])
    counts["analysed"] += counts["lexicon"]
    if counts.get("errors") and counts["degraded"] is None:
        counts["degraded"] = (
            f"{len(counts['errors'])} batch(es) scored by the lexicon: {counts['errors'][0]}"
        )
    return counts

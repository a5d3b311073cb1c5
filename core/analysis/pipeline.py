"""Analysing one instrument's articles and writing its report (Ray-free).

`complete` is the LLM gateway's `complete` (or None: no usable endpoint). Articles are
sent in batches sized by the prompt budget; each verdict is stored keyed by (article,
instrument, model, prompt version), so a re-run finds it and costs nothing. When the daily
budget is spent, the rest is scored by the lexicon and the counts say so. A batch the model
cannot answer validly (after the one repair) or at all is scored by the lexicon too, each
article marked with the reason (in its gist), and the report says it is degraded: nothing
is left blank. Nothing from an answer that failed validation is stored.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.analysis.lexicon import SUPPORTED_LANGUAGES, UnsupportedText, score_article
from core.analysis.prompts import (
    PROMPT_VERSION,
    ArticleVerdicts,
    ReportAnswer,
    article_messages,
    batches,
    check_citations,
    check_verdicts,
    rating_of,
    report_messages,
)
from core.errors import BudgetExceeded, LLMError
from core.models import Article, Instrument

Complete = Callable[..., Awaitable[Any]]
MAX_PROMPT_TOKENS = 3000  # per batch: several articles per prompt, well inside any window
REPORT_ARTICLES = 40

_PENDING = """
    SELECT ar.* FROM articles ar
    JOIN article_instruments ai ON ai.fingerprint = ar.fingerprint AND ai.instrument_id = $1
    WHERE ar.published_at >= $2 AND ar.published_at < $3
      AND NOT EXISTS (SELECT 1 FROM analyses x
                      WHERE x.fingerprint = ar.fingerprint AND x.instrument_id = $1
                        AND x.prompt_version = $4 AND x.method = ANY($5::text[]))
    ORDER BY ar.published_at"""
_ANALYSED = """
    SELECT DISTINCT ON (x.fingerprint) x.fingerprint, x.cache_key, x.method, x.sentiment,
           ar.title, ar.provider, ar.source, ar.published_at
    FROM analyses x JOIN articles ar ON ar.fingerprint = x.fingerprint
    WHERE x.instrument_id = $1 AND ar.published_at >= $2 AND ar.published_at < $3
      AND x.prompt_version = $4
    ORDER BY x.fingerprint, (x.method = 'llm') DESC, x.created_at DESC"""


def cache_key(*parts: object) -> str:
    """A stable key over the inputs, model and prompt version."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def _article(row: asyncpg.Record) -> Article:
    return Article(
        row["fingerprint"], row["url"], row["title"], row["summary"], row["published_at"],
        row["provider"], row["language"], row["source"],
    )  # fmt: skip


async def _store(
    conn: asyncpg.Connection, instrument_id: str, rows: list[tuple], method: str, model: str | None
) -> None:
    await conn.executemany(
        """INSERT INTO analyses (fingerprint, instrument_id, cache_key, method, model,
                                 prompt_version, sentiment, label, relevance, gist)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING""",
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
    rows = await conn.fetch(_PENDING, instrument.id, start, end, PROMPT_VERSION, methods)
    articles = [_article(r) for r in rows]
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


async def write_report(
    conn: asyncpg.Connection,
    instrument: Instrument,
    start: datetime,
    end: datetime,
    window: str,
    complete: Complete | None,
    locale: str,
    trace_id: str | None = None,
    degraded: str | None = None,
) -> dict[str, Any]:
    """Publish a report over the analysed articles in [start, end), unless one already
    covers exactly these analyses; returns its id (or None), method and cost. `degraded`
    (why some articles were scored by the lexicon) is stated in the report."""
    rows = await conn.fetch(_ANALYSED, instrument.id, start, end, PROMPT_VERSION)
    rows = sorted(rows, key=lambda r: r["published_at"], reverse=True)[:REPORT_ARTICLES]
    if not rows:
        return {"report_id": None, "reason": "no analysed articles in the window"}
    mode = "llm" if complete else "lexicon"
    key = cache_key(
        instrument.id, sorted(r["cache_key"] for r in rows), locale, PROMPT_VERSION, mode
    )
    existing = await conn.fetchval("SELECT id FROM reports WHERE cache_key = $1", key)
    if existing is not None:
        return {"report_id": str(existing), "cached": True, "cost_usd": 0.0}
    short = {f"a{i + 1}": r for i, r in enumerate(rows)}
    draft = _Draft(None, short, mode, None, 0.0, None, degraded)
    if complete is not None:
        messages = report_messages(
            instrument, [(i, r["title"], r["sentiment"]) for i, r in short.items()], window, locale
        )
        try:
            done = await complete(
                messages, max_tokens=1200, schema=ReportAnswer,
                check=check_citations(set(short)), purpose="report", trace_id=trace_id,
                ids=sorted(short),
            )  # fmt: skip
            draft.answer, draft.model, draft.cost = done.parsed, done.model, done.cost_usd
        except LLMError as err:  # the budget, or no valid answer: the lexicon writes it
            draft.note = f"lexicon report: {type(err).__name__}: {err}"[:300]
            draft.degraded = draft.degraded or draft.note
    if draft.answer is None:
        reason = draft.degraded if complete is not None else None
        draft.answer = lexicon_report(list(short.items()), window, locale, reason)
        draft.mode = "lexicon"
    return await _publish(conn, instrument, (start, end), key, locale, draft)


@dataclass
class _Draft:
    answer: ReportAnswer | None
    short: dict[str, asyncpg.Record]
    mode: str
    model: str | None
    cost: float
    note: str | None
    degraded: str | None = None  # why part of it came from the lexicon, said in the report

    def cite(self, ids: Sequence[str]) -> list[str]:
        return [self.short[i]["fingerprint"] for i in ids]

    def claims(self, items: Sequence[Any]) -> list[dict[str, Any]]:
        return [{"text": c.text, "citations": self.cite(c.citations)} for c in items]


async def _publish(
    conn: asyncpg.Connection,
    instrument: Instrument,
    window: tuple[datetime, datetime],
    key: str,
    locale: str,
    draft: _Draft,
) -> dict[str, Any]:
    answer, rows = draft.answer, list(draft.short.values())
    coverage = {
        "articles": len(rows),
        "methods": dict(Counter(r["method"] for r in rows)),
        "sources": dict(Counter(r["source"] or r["provider"] for r in rows)),
    }
    if draft.degraded:
        coverage["degraded"] = draft.degraded
    claimed = [f for c in [*answer.positives, *answer.concerns] for f in draft.cite(c.citations)]
    cited = sorted(set(claimed) | set(draft.cite(answer.citations)))
    report_id = await conn.fetchval(
        """INSERT INTO reports (instrument_id, cache_key, window_start, window_end, method, model,
               prompt_version, locale, summary, positives, concerns, outlook, rating, sentiment,
               coverage, citations, status, published_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   'published', now())
           ON CONFLICT (cache_key) DO NOTHING RETURNING id""",
        instrument.id, key, *window, draft.mode, draft.model, PROMPT_VERSION, locale,
        answer.summary, draft.claims(answer.positives), draft.claims(answer.concerns),
        answer.outlook, answer.rating, answer.sentiment, coverage, cited,
    )  # fmt: skip
    return {
        "report_id": str(report_id) if report_id else None,
        "method": draft.mode,
        "rating": answer.rating,
        "cost_usd": draft.cost,
        "note": draft.note,
        "degraded": draft.degraded,
    }


def lexicon_report(
    rows: list[tuple[str, Any]], window: str, locale: str, reason: str | None = None
) -> ReportAnswer:
    """A deterministic report from stored sentiments, for when no LLM may be used (or it
    gave no valid answer: `reason`, stated in the summary)."""
    scores = [(i, r["title"], r["sentiment"]) for i, r in rows]
    mean = sum(s for _, _, s in scores) / len(scores)
    positives = sorted((x for x in scores if x[2] >= 0.15), key=lambda x: -x[2])[:3]
    concerns = sorted((x for x in scores if x[2] <= -0.15), key=lambda x: x[2])[:3]
    if locale == "ko":
        summary = (
            f"최근 {window} 기사 {len(scores)}건: 긍정 {len(positives)}건, 부정 {len(concerns)}건 "
            "(어휘 기반 분석: LLM 예산 또는 엔드포인트 없음)."
        )
        if reason:
            summary = summary.replace("LLM 예산 또는 엔드포인트 없음", "LLM 응답 오류로 대체")
    else:
        summary = (
            f"{len(scores)} articles over {window}: mean sentiment {mean:+.2f}, "
            f"{len(positives)} clearly positive, {len(concerns)} clearly negative "
            "(lexicon analysis: no LLM endpoint or budget)."
        )
        if reason:
            summary = summary.replace("no LLM endpoint or budget", f"degraded, {reason}")
    return ReportAnswer(
        summary=summary,
        positives=[{"text": t, "citations": [i]} for i, t, _ in positives],
        concerns=[{"text": t, "citations": [i]} for i, t, _ in concerns],
        outlook="",
        rating=rating_of(mean),
        sentiment=max(-1.0, min(1.0, mean)),
        citations=[i for i, _, _ in scores],
    )

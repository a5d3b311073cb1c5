"""Writing one instrument's report over a window (Ray-free).

Facts are computed from stored rows first (`core.analysis.facts`): returns, range, volume,
largest move, filings and the article verdicts. The aggregate sentiment and the rating are
ours (`facts.house_view`); the model writes the prose, citing facts (f1…) and articles
(a1…), and its own rating is kept as `model_rating` (flagged when it disagrees).

Grounding (`core.analysis.grounding`): every number in the prose must match a fact cited
where it stands. When some do not, the model is asked once more, told which; what is still
ungrounded then is dropped and counted in `dropped_claims`: a positive or concern whole, a
summary or outlook sentence by sentence, and an emptied summary is replaced by one generated
from the facts. Without an LLM (or without a valid answer) the report is generated from the
facts and the stored verdicts (`method=lexicon`), with the same facts and rating.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from core.analysis.facts import (
    Fact,
    HouseView,
    filing_facts,
    house_view,
    numbered,
    price_facts,
    rating_disagrees,
    verdict_facts,
)
from core.analysis.fundamental_facts import fundamental_facts
from core.analysis.grounding import audit, cited_ids, drop_ungrounded_sentences
from core.analysis.prompts import (
    PROMPT_VERSION,
    REPORT_PROMPT_VERSION,
    Claim,
    ReportAnswer,
    cache_key,
    check_citations,
    repair_messages,
    report_messages,
)
from core.errors import LLMError
from core.models import Instrument
from core.storage.facts import Verdict, read_filings, read_price_history, read_verdicts
from core.storage.fundamentals import read_facts
from core.storage.reports import NewReport, insert_report, report_id_for_key
from core.stories import one_per_story

Complete = Callable[..., Awaitable[Any]]
REPORT_ARTICLES = 40
REPORT_MAX_TOKENS = 1500
VERSION = f"{PROMPT_VERSION}+{REPORT_PROMPT_VERSION}"  # verdicts' prompt + the report's


@dataclass
class Draft:
    """A report being written: its inputs, the answer so far and how it was made."""

    short: dict[str, Verdict]  # a1… → verdict
    facts: list[Fact]
    view: HouseView
    mode: str
    degraded: str | None = None  # why part of it came from the lexicon, said in the report
    answer: ReportAnswer | None = None
    model: str | None = None
    cost: float = 0.0
    note: str | None = None
    dropped: int = 0
    headlines: bool = False  # claims are quoted headlines (the lexicon's)
    model_rating: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def facts_by_id(self) -> dict[str, Fact]:
        return {f.id: f for f in self.facts}

    def fingerprints(self, ids: Sequence[str]) -> list[str]:
        """The fingerprints of the article ids among `ids`, in order."""
        return [self.short[i].fingerprint for i in ids if i in self.short]


async def gather_facts(
    conn: asyncpg.Connection,
    instrument: Instrument,
    window: tuple[datetime, datetime],
    verdicts: Sequence[Verdict],
) -> list[Fact]:
    """The facts of a report on `instrument` over `window`, numbered f1, f2, …"""
    history = await read_price_history(conn, instrument.id, window[1])
    filings = await read_filings(conn, instrument.id, *window)
    statements = await read_facts(conn, instrument.id, end=window[1].date())
    return numbered(
        [
            *price_facts(
                history.bars, history.actions, window, instrument.timezone, instrument.currency
            ),
            *filing_facts(filings, instrument.timezone),
            *fundamental_facts([s.fact for s in statements]),
            *verdict_facts(verdicts, instrument.id),
        ]
    )


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
    """Publish a report over [start, end), unless one already covers exactly these verdicts
    and facts; returns its id (or None), method, our rating and the model's, and cost.
    `degraded` (why some articles were scored by the lexicon) is stated in the report."""
    read = await read_verdicts(conn, instrument.id, start, end, PROMPT_VERSION)
    verdicts = one_per_story(read[:REPORT_ARTICLES])  # a story once, citing its sources
    if not verdicts:
        return {"report_id": None, "reason": "no analysed articles in the window"}
    facts = await gather_facts(conn, instrument, (start, end), verdicts)
    mode = "llm" if complete else "lexicon"
    digest = json.dumps([f.model_dump() for f in facts], sort_keys=True)
    key = cache_key(
        instrument.id, sorted(v.cache_key for v in verdicts), digest, locale, VERSION, mode
    )
    existing = await report_id_for_key(conn, key)
    if existing is not None:
        return {"report_id": existing, "cached": True, "cost_usd": 0.0}
    short = {f"a{i + 1}": v for i, v in enumerate(verdicts)}
    draft = Draft(short, facts, house_view(verdicts, facts), mode, degraded)
    if complete is not None:
        await _ask(draft, instrument, window, complete, locale, trace_id)
    if draft.answer is None:
        reason = draft.degraded if complete is not None else None
        draft.answer = lexicon_report(draft, instrument, window, locale, reason)
        draft.mode, draft.headlines = "lexicon", True
    return await _publish(conn, instrument, (start, end), key, locale, draft)


def _articles_payload(short: dict[str, Verdict]) -> list[dict[str, Any]]:
    return [
        {"id": i, "title": v.title, "label": v.label, "sentiment": round(v.sentiment, 2),
         "relevance": None if v.relevance is None else round(v.relevance, 2),
         **({"sources": v.sources} if v.sources > 1 else {})}
        for i, v in short.items()
    ]  # fmt: skip


async def _ask(
    draft: Draft,
    instrument: Instrument,
    window: str,
    complete: Complete,
    locale: str,
    trace_id: str | None,
) -> None:
    """The model's note, repaired once for ungrounded numbers, what is still so dropped."""
    messages = report_messages(
        instrument, _articles_payload(draft.short), draft.facts, window, locale
    )
    ids = sorted([*draft.short, *(f.id for f in draft.facts)])
    ask = {"max_tokens": REPORT_MAX_TOKENS, "schema": ReportAnswer, "ids": ids,
           "check": check_citations(set(ids)), "trace_id": trace_id}  # fmt: skip
    try:
        done = await complete(messages, purpose="report", **ask)
    except LLMError as err:  # the budget, or no valid answer: the lexicon writes it
        draft.note = f"lexicon report: {type(err).__name__}: {err}"[:300]
        draft.degraded = draft.degraded or draft.note
        return
    draft.answer, draft.model, draft.cost = done.parsed, done.model, done.cost_usd
    draft.model_rating = done.parsed.rating
    problems = audit(draft.answer, draft.facts_by_id)
    if problems:
        fix = repair_messages(messages, draft.answer, [p.describe() for p in problems])
        try:
            again = await complete(fix, purpose="report:grounding", **ask)
            draft.answer, draft.cost = again.parsed, draft.cost + again.cost_usd
            draft.model_rating = again.parsed.rating
        except LLMError as err:  # keep the first answer; its ungrounded parts are dropped
            draft.notes.append(f"grounding repair failed: {type(err).__name__}: {err}"[:300])
    draft.answer = _grounded(draft, instrument, window, locale)


def _grounded(draft: Draft, instrument: Instrument, window: str, locale: str) -> ReportAnswer:
    """The answer without its ungrounded claims and sentences (counted in `draft.dropped`)."""
    answer, facts = draft.answer, draft.facts_by_id
    bad = {p.part for p in audit(answer, facts)}
    if not bad:
        return answer
    kept: dict[str, list[Claim]] = {}
    for name in ("positives", "concerns"):
        claims = getattr(answer, name)
        kept[name] = [c for i, c in enumerate(claims) if f"{name}[{i}]" not in bad]
        draft.dropped += len(claims) - len(kept[name])
    general = [facts[i] for i in answer.citations if i in facts]
    texts = {}
    for part in ("summary", "outlook"):
        text = getattr(answer, part)
        if part in bad:
            own = general + [facts[i] for i in cited_ids(text) if i in facts]
            text, dropped = drop_ungrounded_sentences(text, own)
            draft.dropped += dropped
        texts[part] = text
    if not texts["summary"].strip():
        texts["summary"] = facts_summary(draft, instrument, window, locale)
    return answer.model_copy(update={**kept, **texts})


def _pick(facts: Sequence[Fact], *kinds: str) -> list[Fact]:
    return [f for kind in kinds for f in facts if f.kind == kind]


def facts_summary(draft: Draft, instrument: Instrument, window: str, locale: str) -> str:
    """A summary stating the main facts as computed, each cited inline."""
    picked = _pick(draft.facts, "articles", "sentiment", "return_1m", "return_5d", "range_52w",
                   "filings")  # fmt: skip
    if locale == "ko":
        head = f"{instrument.name} 최근 {window} 요약 (계산된 사실 기준): "
    else:
        head = f"{instrument.name} over {window}, from computed facts: "
    return head + "; ".join(f"{f.text} [{f.id}]" for f in picked) + "."


def lexicon_report(
    draft: Draft, instrument: Instrument, window: str, locale: str, reason: str | None = None
) -> ReportAnswer:
    """A deterministic report from the facts and stored verdicts, for when no LLM may be used
    (or it gave no valid answer: `reason`, said in the summary). Claims are the headlines."""
    scores = [(i, v.title, v.sentiment) for i, v in draft.short.items()]
    positives = sorted((x for x in scores if x[2] >= 0.15), key=lambda x: -x[2])[:3]
    concerns = sorted((x for x in scores if x[2] <= -0.15), key=lambda x: x[2])[:3]
    summary = facts_summary(draft, instrument, window, locale)
    if locale == "ko":
        why = "LLM 응답 오류로 대체" if reason else "LLM 예산 또는 엔드포인트 없음"
        summary += f" (어휘 기반 분석: {why})."
    else:
        why = "degraded, the LLM gave no valid answer" if reason else "no LLM endpoint or budget"
        summary += f" (lexicon analysis: {why})."
    sentiment = _pick(draft.facts, "sentiment")
    return ReportAnswer(
        summary=summary,
        positives=[{"text": t, "citations": [i]} for i, t, _ in positives],
        concerns=[{"text": t, "citations": [i]} for i, t, _ in concerns],
        outlook="",
        rating=draft.view.rating,
        sentiment=draft.view.sentiment,
        citations=[i for i, _, _ in scores] + [f.id for f in sentiment],
    )


def _claims(draft: Draft, items: Sequence[Claim]) -> list[dict[str, Any]]:
    out = []
    for c in items:
        facts = [i for i in [*c.citations, *cited_ids(c.text)] if i in draft.facts_by_id]
        claim = {"text": c.text, "citations": draft.fingerprints(c.citations),
                 "facts": list(dict.fromkeys(facts))}  # fmt: skip
        if draft.headlines:
            claim["kind"] = "headline"
        out.append(claim)
    return out


async def _publish(
    conn: asyncpg.Connection,
    instrument: Instrument,
    window: tuple[datetime, datetime],
    key: str,
    locale: str,
    draft: Draft,
) -> dict[str, Any]:
    answer, verdicts = draft.answer, list(draft.short.values())
    prose = f"{answer.summary} {answer.outlook}"
    general = [*answer.citations, *cited_ids(prose)]
    coverage: dict[str, Any] = {
        "articles": len(verdicts),
        "methods": dict(Counter(v.method for v in verdicts)),
        "sources": dict(Counter(v.source or v.provider for v in verdicts)),
        "cited_facts": [i for i in dict.fromkeys(general) if i in draft.facts_by_id],
        "house_view": draft.view.model_dump(),
    }
    grouped = {v.fingerprint: v.sources for v in verdicts if v.sources > 1}
    if grouped:  # a cited article stands for its story: how many sources reported it
        coverage["story_sources"] = grouped
    if draft.mode == "llm":
        coverage["model_sentiment"] = answer.sentiment
    if draft.degraded:
        coverage["degraded"] = draft.degraded
    if draft.notes:
        coverage["notes"] = draft.notes
    claimed = [i for c in [*answer.positives, *answer.concerns] for i in c.citations]
    cited = sorted(set(draft.fingerprints([*claimed, *general])))
    model_rating = draft.model_rating if draft.mode == "llm" else None
    disagrees = rating_disagrees(draft.view.rating, model_rating)
    report_id = await insert_report(
        conn,
        NewReport(
            instrument.id, key, *window, draft.mode, draft.model, VERSION, locale,
            answer.summary, _claims(draft, answer.positives), _claims(draft, answer.concerns),
            answer.outlook, draft.view.rating, draft.view.sentiment, coverage, cited,
            [f.model_dump() for f in draft.facts], model_rating, disagrees, draft.dropped,
        ),
    )  # fmt: skip
    return {
        "report_id": report_id,
        "method": draft.mode,
        "rating": draft.view.rating,
        "model_rating": model_rating,
        "rating_disagrees": disagrees,
        "dropped_claims": draft.dropped,
        "cost_usd": draft.cost,
        "note": draft.note,
        "degraded": draft.degraded,
    }

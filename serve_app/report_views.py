"""Response models of the report routes: a report with its facts, claims and citations."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from core.analysis.facts import Fact


class CitedArticle(BaseModel):
    """An article a report cites, resolved to its title and URL."""

    id: str
    title: str
    url: str | None = None


class ReportClaim(BaseModel):
    """A positive or concern: its text, the articles (fingerprints) and facts (ids) it cites.
    `kind` "headline": a cited headline quoted as it is (lexicon reports)."""

    text: str
    citations: list[str] = []
    facts: list[str] = []
    kind: str | None = None
    sources: list[CitedArticle] = []


class ReportSummary(BaseModel):
    """A published report in a list: our rating beside the model's."""

    id: str
    instrument_id: str
    method: str
    rating: str
    model_rating: str | None = None
    rating_disagrees: bool = False
    dropped_claims: int = 0
    sentiment: float
    summary: str
    published_at: str | None


class ReportList(BaseModel):
    """Published reports, newest first."""

    reports: list[ReportSummary]


class ReportView(ReportSummary):
    """One report: `rating` and `sentiment` are computed by our code from the `facts` and
    the article verdicts; `model_rating` is the model's own, `rating_disagrees` set when it
    is 2+ steps from ours or on the other side of hold; `dropped_claims` counts claims and
    sentences removed because their numbers matched no cited fact."""

    window_start: str
    window_end: str
    model: str | None = None
    prompt_version: str
    locale: str
    positives: list[ReportClaim] = []
    concerns: list[ReportClaim] = []
    outlook: str | None = None
    facts: list[Fact] = []
    coverage: dict[str, Any] = {}
    citations: list[CitedArticle] = []
    status: str
    created_at: str

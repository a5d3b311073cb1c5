"""`GET /api/v1/instruments/{id}/markers`: what the instrument chart marks (read scope).

News one item per story with its analysed verdict, and filings, in a time range: the
dashboard's price chart draws a marker for each, linking to the item. A router of its own
(`serve_app.routes` is at its size limit), with the same prefix, scope and errors.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from core.storage import chart_marks
from serve_app.context import Ctx
from serve_app.errors import error_responses
from serve_app.params import Instant, window
from serve_app.routes import instrument_or_404, read_router
from serve_app.schemas import IsoTime

router = read_router()
MAX_MARKS = 500


class StoryMarker(BaseModel):
    """A news story: its newest article (`id` its fingerprint), its article count, and the
    verdict over its analysed articles (`label` null: not analysed yet)."""

    id: str
    story_id: str
    url: str
    title: str
    published_at: IsoTime
    sources: int
    sentiment: float | None = Field(description="mean verdict −1..1 of the story's articles")
    label: Literal["positive", "negative", "neutral"] | None = Field(
        description="the most common verdict label; null when none is analysed"
    )


class FilingMarker(BaseModel):
    """A filing; `id` is the provider's id of it."""

    id: str
    provider: str
    title: str
    url: str | None
    filed_at: IsoTime


class Markers(BaseModel):
    """News stories and filings of [start, end), newest first, at most `limit` of each."""

    instrument: str
    start: IsoTime
    end: IsoTime
    news: list[StoryMarker]
    disclosures: list[FilingMarker]


@router.get(
    "/instruments/{instrument_id}/markers",
    response_model=Markers,
    responses=error_responses(400, 404),
)
async def markers(
    ctx: Ctx,
    instrument_id: str,
    start: Instant | None = None,
    end: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MARKS)] = 200,
) -> dict[str, Any]:
    """The chart's markers: news one per story with its sentiment, and filings, in
    [start, end) (default: the year up to now), newest first."""
    instrument = await instrument_or_404(ctx, instrument_id)
    start, end = window(start, end, timedelta(days=365))
    pool = await ctx.pool()
    stories = await chart_marks.story_marks(pool, instrument.id, start, end, limit)
    filings = await chart_marks.filing_marks(pool, instrument.id, start, end, limit)
    return {
        "instrument": instrument.id,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "news": [
            {
                "id": s.fingerprint,
                "story_id": s.story_id,
                "url": s.url,
                "title": s.title,
                "published_at": s.published_at.isoformat(),
                "sources": s.sources,
                "sentiment": s.sentiment,
                "label": s.label,
            }
            for s in stories
        ],
        "disclosures": [
            {
                "id": d.provider_id,
                "provider": d.provider,
                "title": d.title,
                "url": d.url,
                "filed_at": d.filed_at.isoformat(),
            }
            for d in filings
        ],
    }

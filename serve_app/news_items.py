"""The news route's items: one per article, or one per story (`collapse=story`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Query

from core.models import Article
from core.storage import articles, stories
from core.storage.paging import After, Page

Collapse = Annotated[
    Literal["story"] | None,
    Query(description="`story`: one item per story (its newest article), with `sources`, "
          "the number of its articles, and `urls`, theirs oldest first"),
]  # fmt: skip
Reader = Callable[[Any, str, After | None, int], Awaitable[Page[Any]]]


def news_reader(collapse: str | None) -> Reader:
    """The page reader for a `collapse` value."""
    return stories.story_page if collapse == "story" else articles.news_page


def news_item(row: Article | stories.StoryItem) -> dict[str, Any]:
    """An article (or a story: its newest article and its sources) as the API shows it."""
    a = row.article if isinstance(row, stories.StoryItem) else row
    out = {"id": a.fingerprint, "url": a.url, "title": a.title, "summary": a.summary,
           "provider": a.provider, "language": a.language, "source": a.source,
           "published_at": a.published_at}  # fmt: skip
    if isinstance(row, stories.StoryItem):
        out |= {"story_id": row.story_id, "sources": row.sources, "urls": row.urls}
    return out

"""RSS 2.0 and Atom feeds built from the world's stories: `GET /feeds/<host>/<path>`.

Any feed URL is served under its host and path (the client rewrites `https://host/path` to
`<sim>/feeds/host/path`). A host ending in `.kr` serves Korean stories, others English; a
`s=` query (Yahoo's headline feed) limits the stories to those symbols; a path containing
`atom` is an Atom feed, anything else RSS 2.0. The newest `ITEMS` stories of the last seven
days, newest first.

Real-world quirks, each on a stable share of items (drawn from the story id): no pubDate
(1 in 6), HTML in the title (entity-escaped `<b>`, 1 in 6), a link relative to the feed
(1 in 6), an ISO 8601 pubDate (1 in 6), a bare `&` in the channel title (both as Yahoo
News's real feed), and the newest item repeated with the same GUID. Every answer carries an ETag
(a hash of the body) and Last-Modified (the newest item's time); a request whose
If-None-Match names that ETag, or whose If-Modified-Since is not older, gets a bare 304.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sim import rng
from sim.faults import FaultState
from sim.news import Story
from sim.providers.base import Endpoint, ProviderSpec, html_error
from sim.world import SimWorld

ITEMS = 30
RECENT = timedelta(days=7)
RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"


def quirk(story: Story) -> int:
    """Which quirk (0-5) a story's item shows: 0 no date, 1 HTML title, 2 relative link,
    3 ISO 8601 pubDate; 4 and 5 none."""
    return rng.key("rss-quirk", story.id) % 6


class FeedEndpoint(Endpoint):
    """Answers any feed path from the world's recent stories."""

    async def handle(self, request: Request) -> Response:
        """GET /feeds/<host>/<path>."""
        host = request.path_params["host"]
        path = "/" + request.path_params.get("path", "")
        stories = self._stories(host, request.query_params.get("s"))
        atom = "atom" in path.lower()
        now = datetime.fromtimestamp(self.world.clock(), UTC).replace(microsecond=0)
        modified = stories[0].published_at.replace(microsecond=0) if stories else now
        body = (atom_feed if atom else rss_feed)(host, path, stories, modified).encode()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
        if _not_modified(request, etag, modified):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=ATOM_TYPE if atom else RSS_TYPE, headers=headers)

    def _stories(self, host: str, symbols: str | None) -> list[Story]:
        language = "ko" if host.lower().endswith(".kr") else "en"
        universe = self.world.universe
        if symbols:
            insts = [i for s in symbols.split(",") if (i := universe.find(s.strip()))]
        else:
            insts = list(universe.instruments[:50])
        end = datetime.fromtimestamp(self.world.clock(), UTC)
        out: list[Story] = []
        for story in self.world.news.newest_first(insts, end - RECENT, end):
            if story.language == language:
                out.append(story)
            if len(out) >= ITEMS:
                break
        return out


def _not_modified(request: Request, etag: str, modified: datetime) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:
        return etag in [m.strip() for m in match.split(",")] or match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return parsedate_to_datetime(since) >= modified
        except (TypeError, ValueError):
            return False
    return False


def _title(story: Story) -> str:
    # Escaped once for XML; the HTML quirk's markup arrives as entities, as many feeds send it.
    if quirk(story) == 1:
        return escape(f"<b>{escape(story.title)}</b>")
    return escape(story.title)


def _link(story: Story, host: str) -> str:
    if quirk(story) == 2:
        return f"/news/{story.id}"  # relative: resolved against the feed's URL
    return story.url


def _items(stories: list[Story]) -> list[Story]:
    return [stories[0], *stories] if stories else []  # the newest twice, one GUID


def rss_feed(host: str, path: str, stories: list[Story], modified: datetime) -> str:
    """An RSS 2.0 document."""
    items = []
    for story in _items(stories):
        stamp = format_datetime(story.published_at)
        if quirk(story) == 3:  # ISO 8601 where RFC 822 belongs, as Yahoo News's feed sends
            stamp = story.published_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        date = "" if quirk(story) == 0 else f"<pubDate>{stamp}</pubDate>"
        items.append(
            f"<item><title>{_title(story)}</title><link>{escape(_link(story, host))}</link>"
            f"<description>{escape(story.description)}</description>"
            f'<guid isPermaLink="false">{story.id}</guid>{date}</item>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(host)} - News & Headlines</title><link>https://{escape(host)}/</link>"
        f"<description>News from {escape(host)}</description>"
        f"<lastBuildDate>{format_datetime(modified, usegmt=True)}</lastBuildDate>"
        + "".join(items)
        + "</channel></rss>\n"
    )


def atom_feed(host: str, path: str, stories: list[Story], modified: datetime) -> str:
    """An Atom 1.0 document (a missing date is a missing `updated`, as real feeds do)."""
    entries = []
    for story in _items(stories):
        stamp = story.published_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        date = (
            "" if quirk(story) == 0 else f"<published>{stamp}</published><updated>{stamp}</updated>"
        )
        entries.append(
            f'<entry><title type="html">{_title(story)}</title>'
            f'<link rel="alternate" href="{escape(_link(story, host))}"/>'
            f"<id>urn:sim:{story.id}</id>{date}"
            f"<summary>{escape(story.description)}</summary></entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(host)}</title><id>https://{escape(host)}{escape(path)}</id>"
        f"<updated>{modified.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>"
        + "".join(entries)
        + "</feed>\n"
    )


def _limit_response(variant: str) -> Response:
    return Response("Too Many Requests", status_code=429, headers={"Retry-After": "30"})


def _error_response(status: int) -> Response:
    return html_error(status)


def build(world: SimWorld, state: FaultState) -> Starlette:
    """The /feeds/<host>/<path> route."""
    handler = FeedEndpoint(world, state).handle
    return Starlette(
        routes=[Route("/feeds/{host}/{path:path}", handler), Route("/feeds/{host}", handler)]
    )


SPEC = ProviderSpec("rss", build, _limit_response, _error_response)

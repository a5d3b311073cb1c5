"""NewsAPI: `GET /v2/everything` (key in `X-Api-Key`, `Authorization` or `apiKey`).

Errors are `{"status": "error", "code": ..., "message": ...}` with NewsAPI's HTTP codes.
Articles never carry the true sentiment; the same story may appear twice (tracking params).
`q` is a term or a boolean query (`"Apple" OR "Microsoft" OR 삼성전자`, at most 500
characters): the stories of every instrument a term names, merged newest first. Each story
names its company in its title (and so its description): the English or Korean name news
uses, which is the instrument's `newsapi` symbol.
Scenarios: `odd_published_at` (a third of items stamped `+00:00` or with seven fraction
digits), `null_descriptions` (a third with `description: null`), `echo_key`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sim import rng
from sim.calendar import parse_iso
from sim.faults import FaultState
from sim.news import Copy, Story
from sim.providers.base import Endpoint, ProviderSpec, html_error, json_response, key_state
from sim.world import SimWorld

LANGUAGES = {
    "ar",
    "de",
    "en",
    "es",
    "fr",
    "he",
    "it",
    "nl",
    "no",
    "pt",
    "ru",
    "sv",
    "ud",
    "zh",
    "ko",
}
SORTS = {"publishedAt", "relevancy", "popularity"}
QUERY_MAX_CHARS = 500  # newsapi.org/docs/endpoints/everything: "Max length: 500 chars"
_MESSAGES = {
    "apiKeyMissing": "Your API key is missing. Append this to the URL with the apiKey param, "
    "or use the x-api-key HTTP header.",
    "apiKeyInvalid": "Your API key is invalid or incorrect. Check your key, or go to "
    "https://newsapi.org to create a free API key.",
    "rateLimited": "You have been rate limited. Developer accounts are limited to 100 requests "
    "over a 24 hour period (50 requests available every 12 hours). Please upgrade "
    "to a paid plan if you need more requests.",
    "parametersMissing": "Required parameters are missing, the scope of your search is too "
    "broad. Please set any of the following required parameters and try "
    "again: q, qInTitle, sources, domains.",
    "unexpectedError": "An unexpected error occurred. Please try again later.",
}
_STATUS = {
    "apiKeyMissing": 401,
    "apiKeyInvalid": 401,
    "rateLimited": 429,
    "parametersMissing": 400,
    "parameterInvalid": 400,
    "maximumResultsReached": 426,
    "unexpectedError": 500,
}


def error(code: str, message: str | None = None) -> Response:
    """NewsAPI's error body with its HTTP status."""
    return json_response(
        {"status": "error", "code": code, "message": message or _MESSAGES.get(code, code)},
        _STATUS[code],
    )


class EverythingEndpoint(Endpoint):
    """Answers /v2/everything from the world's stories."""

    async def handle(self, request: Request) -> Response:
        """GET /v2/everything."""
        params = request.query_params
        auth = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        state = key_state(request.headers.get("x-api-key") or params.get("apiKey") or auth)
        if state != "ok":
            return error("apiKeyMissing" if state == "missing" else "apiKeyInvalid")
        query = params.get("q") or params.get("qInTitle")
        if not query:
            return error("parametersMissing")
        if len(query) > QUERY_MAX_CHARS:  # no recorded answer: NewsAPI's generic 400 code
            name = "q" if params.get("q") else "qInTitle"
            return error(
                "parameterInvalid",
                f"The {name} param is too long: {len(query)} characters. The maximum is "
                f"{QUERY_MAX_CHARS}.",
            )
        problem, window = self._check(params)
        if problem:
            return error("parameterInvalid", problem)
        page_size, page, start, end = window
        cap = self.state.config.max_results
        if cap is not None and page * page_size > cap:
            asked = f"{(page - 1) * page_size} to {page * page_size}"
            message = (
                "You have requested too many results. Developer accounts are limited to a max "
                f"of {cap} results. You are trying to request results {asked}. Please upgrade "
                "to a paid plan if you need more results."
            )
            return error("maximumResultsReached", message)
        articles = self._matches(query, params.get("language"), start, end)
        chunk = articles[(page - 1) * page_size : page * page_size]
        scenarios = self.state.scenarios
        out = [_article(s, c) for s, c in chunk]
        for item, (story, copy) in zip(out, chunk, strict=True):
            if copy.removed:
                continue
            draw = rng.key(self.world.seed, "newsapi-edge", copy.url) % 6
            if "odd_published_at" in scenarios and draw < 2:
                item["publishedAt"] = _odd_timestamp(copy.published_at, draw, story.id)
            if "null_descriptions" in scenarios and draw in (1, 4):
                item["description"] = None
        return json_response({"status": "ok", "totalResults": len(articles), "articles": out})

    def _check(self, params) -> tuple[str, tuple]:
        language = params.get("language")
        if language and language not in LANGUAGES:
            return f"The language param '{language}' is not supported.", ()
        if params.get("sortBy", "publishedAt") not in SORTS:
            return f"The sortBy param '{params['sortBy']}' is not supported.", ()
        try:
            page_size = min(100, int(params.get("pageSize", "100")))
            page = int(params.get("page", "1"))
        except ValueError:
            return "The page and pageSize params must be whole numbers.", ()
        if page < 1 or page_size < 1:
            return "The page and pageSize params must be at least 1.", ()
        now = datetime.fromtimestamp(self.world.clock(), UTC)
        try:
            end = parse_iso(params["to"], end=True) if params.get("to") else now
            start = parse_iso(params["from"]) if params.get("from") else end - timedelta(days=30)
        except ValueError:
            return (
                "The from and to params must be ISO 8601 dates or datetimes, e.g. "
                "2024-01-01 or 2024-01-01T12:00:00."
            ), ()
        return "", (page_size, page, start, min(end, now))

    def _matches(
        self, query: str, language: str | None, start: datetime, end: datetime
    ) -> list[tuple[Story, Copy]]:
        """(story, copy) pairs whose instrument a query term names, newest copy first."""
        terms = [
            t.strip().strip('"()+').strip() for t in query.replace(" AND ", " OR ").split(" OR ")
        ]
        universe = self.world.universe
        insts = {inst.id: inst for t in terms if t for inst in universe.named(t)}
        out = []
        for story in self.world.news.window(list(insts.values()), start - timedelta(hours=2), end):
            if language and story.language != language:
                continue
            out += [
                (story, c) for c in story.copies_for("newsapi") if start <= c.published_at <= end
            ]
        out.sort(key=lambda sc: (sc[1].published_at, sc[0].id), reverse=True)
        return out


def _odd_timestamp(ts: datetime, kind: int, story_id: str) -> str:
    """publishedAt as some sources send it: `+00:00` (kind 0) or seven fraction digits."""
    if kind == 0:
        return ts.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(story_id[:7], 16) % 10_000_000:07d}Z"


def _article(story: Story, copy: Copy) -> dict:
    if copy.removed:  # NewsAPI's placeholder for a withdrawn article
        return {
            "source": {"id": None, "name": "[Removed]"},
            "author": None,
            "title": "[Removed]",
            "description": "[Removed]",
            "url": "https://removed.com",
            "urlToImage": None,
            "publishedAt": "1970-01-01T00:00:00Z",
            "content": "[Removed]",
        }
    content = story.content
    if len(content) > 200:
        content = f"{content[:200]}… [+{len(content) - 200} chars]"
    return {
        "source": {"id": story.source_id, "name": story.source},
        "author": story.author,
        "title": story.title,
        "description": story.description,
        "url": copy.url,
        "urlToImage": f"https://{story.domain}/resources/{story.id}.jpg",
        "publishedAt": copy.published_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "content": content,
    }


def _limit_response(variant: str) -> Response:
    return error("rateLimited")


def _error_response(status: int) -> Response:
    return error("unexpectedError") if status == 500 else html_error(status)


def _echo_key(body: dict, key: str) -> bool:
    if body.get("code") != "apiKeyInvalid":
        return False
    body["message"] = (
        f"Your API key ({key}) is invalid or incorrect. Check your key, or go to "
        "https://newsapi.org to create a free API key."
    )
    return True


def build(world: SimWorld, state: FaultState) -> Starlette:
    """The /v2/everything route."""
    return Starlette(routes=[Route("/v2/everything", EverythingEndpoint(world, state).handle)])


SPEC = ProviderSpec("newsapi", build, _limit_response, _error_response, _echo_key)

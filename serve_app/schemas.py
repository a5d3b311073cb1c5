"""Response models of the REST API: what each route answers, so `/openapi.json` has a schema
for every successful answer and a generated client (or the contract test) can check it.

Field names, types and nullability are the answers' own. Times and days the routes render
themselves (`datetime.isoformat()`, e.g. `2024-05-01T00:00:00+00:00`) are strings here, so
the JSON stays as it was; `IsoTime` also takes a `datetime` and renders it the same way.
Answers that omit a field rather than send null (a user's chat message has no `method`, a
disabled provider no `circuit`) are served with `response_model_exclude_unset`. The
operators' routes' models are in `serve_app.ops_schemas`; errors are `errors.ErrorBody`.
"""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from core.adjust import AdjustMode
from core.events import BarPrices
from serve_app.report_views import ReportView


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


IsoTime = Annotated[
    str, BeforeValidator(_iso), WithJsonSchema({"type": "string", "format": "date-time"})
]
"""A time as ISO 8601 with its offset, as `datetime.isoformat()` writes it."""
IsoDay = Annotated[str, BeforeValidator(_iso), WithJsonSchema({"type": "string", "format": "date"})]
"""A day as `YYYY-MM-DD`."""
Number = int | float
"""A JSON number that may be whole (kept as the answer had it: `5`, not `5.0`)."""


# -- instruments, bars, actions ---------------------------------------------------------------


class InstrumentOut(BaseModel):
    """An instrument of the watchlist: its canonical id and per-provider symbols."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    exchange: str
    currency: str
    timezone: str
    symbols: dict[str, str] = Field(description="provider -> that provider's symbol")


class InstrumentList(BaseModel):
    """Every instrument of the watchlist, by id."""

    instruments: list[InstrumentOut]


class ActionOut(BaseModel):
    """A split (`ratio`: new/old shares) or a cash dividend (`amount` per share)."""

    kind: str = Field(description="`split` or `dividend`")
    ex_date: IsoDay
    ratio: float | None
    amount: float | None


class StoredAction(ActionOut):
    """A stored corporate action and the provider it came from."""

    provider: str


class BarOut(BarPrices):
    """One bar; `partial` marks a period still trading when it was fetched."""

    partial: bool


class Bars(BaseModel):
    """Bars as JSON: prices as `adjust` derives them, the actions applied and notes on the
    actions that could not be."""

    instrument: str
    interval: str
    currency: str
    adjust: AdjustMode
    actions: list[ActionOut]
    notes: list[str]
    bars: list[BarOut]


class Actions(BaseModel):
    """An instrument's splits and dividends, oldest first."""

    instrument: str
    currency: str
    actions: list[StoredAction]


BAR_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "bars as JSON, CSV (`Accept: text/csv`) or Parquet "
        "(`Accept: application/vnd.apache.parquet`); CSV and Parquet hold the `bars` columns",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
"""The bars route's other renderings, beside its JSON model."""


# -- news, disclosures, analysis --------------------------------------------------------------


class ArticleOut(BaseModel):
    """An article linked to the instrument; `id` is its fingerprint."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    title: str
    summary: str | None
    provider: str
    language: str
    source: str | None
    published_at: IsoTime
    story_id: str | None = None  # these three only with `collapse=story`
    sources: int | None = None
    urls: list[str] | None = None


class NewsPage(BaseModel):
    """A page of articles, newest first; `next_cursor` (null on the last page) pages on."""

    articles: list[ArticleOut]
    next_cursor: str | None


class DisclosureOut(BaseModel):
    """A filing; `id` is the provider's id of it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    provider: str
    title: str
    filer: str | None
    url: str | None
    filed_at: IsoTime


class DisclosurePage(BaseModel):
    """A page of filings, newest first; `next_cursor` (null on the last page) pages on."""

    disclosures: list[DisclosureOut]
    next_cursor: str | None


class FactOut(BaseModel):
    """One statement figure: `account` (revenue, operating_income, net_income, total_assets,
    total_liabilities, total_equity) of `period` ("2024FY", "2024Q3"); `version` 1 is as
    first filed, a higher one a restatement; `report_id` the filing (DART's receipt no.)."""

    period: str
    period_end: IsoDay
    statement: Literal["income", "balance", "cashflow"]
    account: str
    consolidated: bool
    value: Number
    currency: str
    provider: str
    report_id: str | None
    version: int
    fetched_at: IsoTime


class Fundamentals(BaseModel):
    """An instrument's statement figures, oldest period first (`versions`: latest or all)."""

    instrument: str
    versions: Literal["latest", "all"]
    facts: list[FactOut]


class AnalysisReport(ReportView):
    """The latest published report, as `GET /reports/{id}` shows it, with its cache key."""

    cache_key: str


class SentimentDay(BaseModel):
    """The average sentiment of the day's analysed articles, and how many there were."""

    day: IsoDay
    sentiment: float | None
    articles: int


class Analysis(BaseModel):
    """The latest published report (null when none is) and the daily sentiment timeline."""

    instrument: str
    report: AnalysisReport | None
    timeline: list[SentimentDay]


# -- chat ---------------------------------------------------------------------------------------


class ChatSession(BaseModel):
    """A chat session about one instrument."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    instrument: str
    created_at: IsoTime


class ChatCitation(BaseModel):
    """A source an answer cites: an article, a filing, a report or a fact."""

    id: str
    kind: str = Field(description="`report`, `fact` or `article`")
    ref: str = Field(description="the report's id (a fact's report) or the article's fingerprint")
    title: str
    url: str | None
    at: IsoTime | None


class ChatMessage(BaseModel):
    """A question (`role` user) or an answer (`role` assistant: with the question it
    answers, how it was made, its citations and cost, and `detail` when there is any)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    role: Literal["user", "assistant"]
    content: str
    created_at: IsoTime
    reply_to: str | None = None
    method: Literal["llm", "lexicon"] | None = None
    model: str | None = None
    citations: list[ChatCitation] | None = None
    cost_usd: float | None = None
    detail: dict[str, Any] | None = None


class ChatHistory(BaseModel):
    """A session and its last messages, oldest first."""

    session: ChatSession
    messages: list[ChatMessage]


class ChatSessions(BaseModel):
    """The caller's chat sessions, newest first."""

    sessions: list[ChatSession]


CHAT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "SSE (`Accept: text/event-stream`): `start` (`session_id`, `message_id`, "
        "`replayed`), `token`… (`text`), then `done` (the answer, as the JSON answer) or "
        "`error` (the error shape, `details.retryable`)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
"""The message route's streamed answer, beside its JSON model."""


# -- health -------------------------------------------------------------------------------------

PROMETHEUS_TEXT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format (0.0.4)",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}
"""`/metrics`' answer (its errors are JSON, in the one error shape)."""


class Health(BaseModel):
    """The replica answers."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """`ready`, or `degraded` when only Redis does not answer; each check's `ok` or error."""

    status: Literal["ready", "degraded"]
    checks: dict[str, str]


def json_response(model: BaseModel, **dump: Any) -> JSONResponse:
    """`model` as JSON, rendered as `JSONResponse` renders a dict (for cached routes, which
    answer with a `Response` of their own); `dump` as for `model_dump`."""
    return JSONResponse(model.model_dump(mode="json", by_alias=True, **dump))

"""Live events, typed per kind: publishers build them here, listeners parse them here.

On the wire (the hub, Redis, `/ws`) an event is `{"id", "type", "instrument", "at",
"payload"}`; `type` names its kind and decides the payload's model:

    bar               the newest bar of an instrument and the close before it
    article           a new article about an instrument
    report.published  a new report of an instrument
    job.progress      a collect or backfill run moved on (`payload.kind` tells which)
    provider.circuit  a provider's circuit changed state
    collected         internal (never sent on `/ws`): an instrument's data changed

A publisher builds a payload model (`Bar(...)`) and hands it to `actors.events.publish`;
`body` turns it into an event without an id. A listener calls `parse_event`: an event whose
payload its kind's model does not take (a hand-published one, a kind from a newer version)
comes back as `OtherEvent`, so a listener never drops what the hub sent.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from core import models

log = logging.getLogger("stockray.events")

KEEP = 10_000
"""Events the hub keeps, and each listener's replay buffer."""

IsoTime = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A time sent as Python's ISO-8601 text (`2024-01-02T00:00:00+00:00`)."""


def omitted_when_none(schema: dict[str, Any], model: type) -> None:
    """Schema hook: the fields a model leaves out when None (`OMIT_NONE`) are not required."""
    omit = getattr(model, "OMIT_NONE", frozenset())
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name not in omit]


MESSAGE_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    json_schema_serialization_defaults_required=True,
    json_schema_extra=omitted_when_none,
)
"""Of every event payload and `/ws` message: immutable, no unknown fields."""


class Payload(BaseModel):
    """What an event of one kind carries; `KIND` is the event's `type`."""

    model_config = MESSAGE_CONFIG
    KIND: ClassVar[str]
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()  # fields left out when None

    def dump(self) -> dict[str, Any]:
        """JSON-ready, as the event's `payload`."""
        omit = {name for name in self.OMIT_NONE if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude=omit or None)


class BarPrices(BaseModel):
    """A bar's start, prices, volume and provider as JSON: in the `bar` event and in the API's
    bars (`models.Bar` without its instrument, interval and `partial`)."""

    ts: IsoTime
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: int | None
    provider: str


class _OfInterval(BaseModel):
    interval: str


class Bar(BarPrices, _OfInterval, Payload):
    """The newest bar of a collection, and the close before it (price and change)."""

    # Fields in order: `interval`, the prices, `previous_close` (pydantic takes the bases'
    # fields from the last base to the first); the configuration is `Payload`'s.
    KIND: ClassVar[str] = "bar"
    previous_close: float | None

    @classmethod
    def newest(cls, bars: list[models.Bar], interval: str) -> Bar:
        """The newest of `bars` and the close before it."""
        ordered = sorted(bars, key=lambda b: b.ts)
        last = ordered[-1]
        return cls(
            interval=interval,
            ts=last.ts,
            **{k: getattr(last, k) for k in ("open", "high", "low", "close", "volume", "provider")},
            previous_close=ordered[-2].close if len(ordered) > 1 else None,
        )


class Article(Payload):
    """A new article about the event's instrument."""

    KIND: ClassVar[str] = "article"
    id: str = Field(description="the article's fingerprint")
    title: str
    url: str
    published_at: IsoTime
    source: str | None

    @classmethod
    def of(cls, article: models.Article) -> Article:
        """The event announcing `article`."""
        return cls(
            id=article.fingerprint,
            title=article.title,
            url=article.url,
            published_at=article.published_at,
            source=article.source,
        )


class ReportPublished(Payload):
    """A new report; fetch it from `/api/v1/reports/{report_id}`."""

    KIND: ClassVar[str] = "report.published"
    instrument: str
    report_id: str
    trace_id: str


class RunProgress(Payload):
    """A run moved on: `done` of `total` steps; `kind` says which job (collect, backfill)."""

    KIND: ClassVar[str] = "job.progress"
    run_id: str
    trace_id: str
    done: int
    total: int


class CollectProgress(RunProgress):
    """A collect run moved on: `done` of `total` requests, the counts so far."""

    kind: Literal["collect"] = "collect"
    counts: dict[str, int]
    last: str = Field(description="up to three instruments of the last request, comma-joined")


class BackfillProgress(RunProgress):
    """A backfill moved on: `done` of `total` chunks, the counts so far."""

    kind: Literal["backfill"] = "backfill"
    backfill_id: str
    counts: dict[str, Any]


class ProviderCircuit(Payload):
    """A provider's circuit changed state (`closed`, `open`, `half_open`)."""

    KIND: ClassVar[str] = "provider.circuit"
    provider: str
    state: Literal["closed", "open", "half_open"]
    previous: Literal["closed", "open", "half_open"]
    retry_in_s: float | None
    quota: dict[str, Any] | None
    last_error: dict[str, Any] | None


class Collected(Payload):
    """Internal: an instrument's rows changed (a collection or a backfill chunk saved)."""

    KIND: ClassVar[str] = "collected"
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({"new_articles", "backfill_id"})
    instrument: str
    counts: dict[str, int]
    providers: dict[str, str | None]
    errors: dict[str, str]
    new_articles: int | None = None
    backfill_id: str | None = None


# -- events as listeners get them -------------------------------------------------------------


class _Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: int = Field(description="cluster-wide, one more than the previous event's")
    instrument: str | None = Field(description="the instrument it is about, or none")
    at: float = Field(description="when it was published (Unix seconds)")


class BarEvent(_Envelope):
    type: Literal["bar"]
    payload: Bar


class ArticleEvent(_Envelope):
    type: Literal["article"]
    payload: Article


class ReportPublishedEvent(_Envelope):
    type: Literal["report.published"]
    payload: ReportPublished


class JobProgressEvent(_Envelope):
    type: Literal["job.progress"]
    payload: Annotated[CollectProgress | BackfillProgress, Field(discriminator="kind")]


class ProviderCircuitEvent(_Envelope):
    type: Literal["provider.circuit"]
    payload: ProviderCircuit


class CollectedEvent(_Envelope):
    type: Literal["collected"]
    payload: Collected


class OtherEvent(_Envelope):
    """An event whose payload its kind's model does not take, or of a kind not modelled."""

    type: str
    payload: dict[str, Any]


KINDS: tuple[str, ...] = tuple(
    p.KIND for p in (Bar, Article, ReportPublished, CollectProgress, ProviderCircuit)
)
"""The event types clients may subscribe to on `/ws` (`collected` stays internal)."""

TypedEvent = Annotated[
    BarEvent
    | ArticleEvent
    | ReportPublishedEvent
    | JobProgressEvent
    | ProviderCircuitEvent
    | CollectedEvent,
    Field(discriminator="type"),
]
Event = (
    BarEvent
    | ArticleEvent
    | ReportPublishedEvent
    | JobProgressEvent
    | ProviderCircuitEvent
    | CollectedEvent
    | OtherEvent
)
_TYPED: TypeAdapter[Any] = TypeAdapter(TypedEvent)


def parse_event(raw: dict[str, Any]) -> Event:
    """The typed event `raw` holds; `OtherEvent` when its payload is not its kind's shape.

    Raises `ValidationError` only when `raw` is not an event at all (no id, type or time).
    """
    try:
        return _TYPED.validate_python(raw)
    except ValidationError:
        return OtherEvent.model_validate(raw)


def body(payload: Payload, instrument: str | None = None) -> dict[str, Any]:
    """The event `payload` makes, without its id (the hub assigns it)."""
    return event_body(payload.KIND, payload.dump(), instrument)


def event_body(kind: str, payload: dict[str, Any], instrument: str | None) -> dict[str, Any]:
    """An event without its id; `instrument` defaults to the payload's."""
    if instrument is None:
        instrument = payload.get("instrument")
    return {"type": kind, "instrument": instrument, "at": time.time(), "payload": payload}


def dumps(event: dict[str, Any]) -> str:
    """Compact JSON as sent to listeners and clients."""
    return json.dumps(event, default=str, separators=(",", ":"))

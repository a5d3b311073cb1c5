"""The `/ws` protocol: close codes, limits, client messages, server messages.

Every message is a pydantic model: the server builds its replies from them and
`core.live.schema` writes them down as docs/ws-protocol.schema.json. Parsing is a pure
function of the text a client sent (no socket, no database), so each rule of the protocol is
checked in one place; `serve_app.live` runs it and `core.live.feed` fans events out.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field

from core.events import KINDS, MESSAGE_CONFIG, Event, dumps

MAX_MESSAGE = 64 * 1024  # bytes of one client message (the frame limit where we set it)
MAX_ITEMS = 200  # names in one subscribe/unsubscribe (the REST API's limit too)
QUEUE_MAX = 1_000  # events waiting for one client before it is told it lagged
CONTROL_MAX = 64  # replies (pong, error, subscribed) waiting for a client that is not reading
LIST_MAX = 100  # subscriptions in one `subscriptions` reply (more: ask with an offset)

CLOSE_RESTART, CLOSE_NOT_READY, CLOSE_TOO_BIG = 1012, 1013, 1009
CLOSE_BAD_QUERY, CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN = 4400, 4401, 4403
CLOSE_NOT_READING = 4408  # its replies piled up: the client does not read what it is sent
CLOSE_TOO_MANY = 4429  # the key's request rate, failed key attempts, or sockets per key

Name = Annotated[str, Field(min_length=1, max_length=64)]
Kind = Literal["bar", "article", "report.published", "job.progress", "provider.circuit"]
"""`core.events.KINDS` as a type (a unit test holds them equal)."""


class _Message(BaseModel):
    model_config = MESSAGE_CONFIG


# -- client messages --------------------------------------------------------------------------


class Subscribe(_Message):
    """Add a subscription (instruments x events, empty meaning all); `last_event_id` also
    replays what this socket missed after that id."""

    type: Literal["subscribe"]
    instruments: list[Name] = Field(default=[], max_length=MAX_ITEMS)
    events: list[Kind] = Field(default=[], max_length=MAX_ITEMS)
    last_event_id: int | None = Field(default=None, ge=0)


class Unsubscribe(_Message):
    """Remove a subscription, named exactly as it was subscribed."""

    type: Literal["unsubscribe"]
    instruments: list[Name] = Field(default=[], max_length=MAX_ITEMS)
    events: list[Kind] = Field(default=[], max_length=MAX_ITEMS)


class ListSubscriptions(_Message):
    """Ask for one page of this socket's subscriptions, from `offset`."""

    type: Literal["list"]
    offset: int = Field(default=0, ge=0)


class Ping(_Message):
    """Ask for a `pong`."""

    type: Literal["ping"]


ClientMessage = Annotated[
    Subscribe | Unsubscribe | ListSubscriptions | Ping, Field(discriminator="type")
]


# -- server messages --------------------------------------------------------------------------


class ServerMessage(_Message):
    """A reply or notice of the server (events themselves are `core.events` models)."""

    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()  # fields left out when None

    def text(self) -> str:
        """The message as sent: compact JSON, like events."""
        omit = {name for name in self.OMIT_NONE if getattr(self, name) is None}
        return dumps(self.model_dump(mode="json", exclude=omit or None))


class RuleOut(_Message):
    """One subscription as shown to the client, names sorted."""

    instruments: list[str]
    events: list[str]


class Hello(ServerMessage):
    """The first message: the subscriptions the socket starts with (its key's stored)."""

    type: Literal["subscribed"] = "subscribed"
    subscriptions: list[RuleOut]
    count: int
    replica: str | None = Field(description="the replica serving this socket, if in Serve")


class Subscribed(ServerMessage):
    """The answer to subscribe: the subscription added (none if the socket had it)."""

    type: Literal["subscribed"] = "subscribed"
    added: list[RuleOut] = Field(max_length=1)
    count: int


class Unsubscribed(ServerMessage):
    """The answer to unsubscribe: the subscription removed."""

    type: Literal["unsubscribed"] = "unsubscribed"
    removed: list[RuleOut] = Field(max_length=1)
    count: int


class Subscriptions(ServerMessage):
    """The answer to list: at most `LIST_MAX` subscriptions; `next_offset` null on the last."""

    type: Literal["subscriptions"] = "subscriptions"
    subscriptions: list[RuleOut]
    count: int
    next_offset: int | None


class Pong(ServerMessage):
    """The answer to ping."""

    type: Literal["pong"] = "pong"
    last_event_id: int
    at: float


class Heartbeat(ServerMessage):
    """Sent after `heartbeat_s` of silence."""

    type: Literal["heartbeat"] = "heartbeat"
    last_event_id: int
    at: float


LAGGED_MESSAGE = (
    "events were skipped: refetch state from the API, or reconnect with an older "
    "last_event_id while the replay buffer still holds it"
)


class Lagged(ServerMessage):
    """Events up to `last_event_id` were skipped: the client's queue overflowed, or a
    resume id is unknown or older than the replay buffer."""

    type: Literal["lagged"] = "lagged"
    reason: Literal["overflow", "unknown_id", "too_old"]
    last_event_id: int
    message: str = LAGGED_MESSAGE


class Error(ServerMessage):
    """A refused client message; nothing changed and the socket stays open."""

    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({"unknown", "limit"})
    type: Literal["error"] = "error"
    code: Literal[
        "invalid_message",
        "unknown_instruments",
        "unknown_events",
        "unknown_subscription",
        "too_many_subscriptions",
    ]
    message: str
    unknown: list[str] | None = Field(default=None, description="the names not known")
    limit: int | None = Field(default=None, description="the subscriptions a socket may hold")


ServerReply = Hello | Subscribed | Unsubscribed | Subscriptions | Pong | Heartbeat | Lagged | Error


class BadMessage(ValueError):
    """A client message this protocol cannot take; answered with an `error` message."""

    def __init__(self, message: str, code: str = "invalid_message", **detail: Any) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail

    def reply(self) -> Error:
        """The `error` message that answers it."""
        return Error(code=self.code, message=str(self), **self.detail)


@dataclass(frozen=True, slots=True)
class Rule:
    """One subscription: instruments and event types, an empty set meaning all."""

    instruments: frozenset[str]
    events: frozenset[str]

    def matches(self, event: Event) -> bool:
        """True when `event` is one this subscription asks for."""
        instrument = event.instrument
        return (not self.instruments or instrument is None or instrument in self.instruments) and (
            not self.events or event.type in self.events
        )

    def shown(self) -> RuleOut:
        """As shown to the client."""
        return RuleOut(instruments=sorted(self.instruments), events=sorted(self.events))

    @classmethod
    def of(cls, message: Subscribe | Unsubscribe) -> Rule:
        """The subscription a subscribe or unsubscribe names."""
        return cls(frozenset(message.instruments), frozenset(message.events))


# -- parsing ----------------------------------------------------------------------------------


def too_big(message: dict[str, Any]) -> bool:
    """True when an ASGI `websocket.receive` message carries over `MAX_MESSAGE` bytes."""
    text, data = message.get("text"), message.get("bytes")
    if text is not None:  # UTF-8 takes 1-4 bytes a character: encode only when in doubt
        return len(text) > MAX_MESSAGE or (
            len(text) * 4 > MAX_MESSAGE and len(text.encode()) > MAX_MESSAGE
        )
    return data is not None and len(data) > MAX_MESSAGE


def parse(text: str | None) -> Subscribe | Unsubscribe | ListSubscriptions | Ping:
    """The client message `text` holds; `BadMessage` (saying what is wrong) when none."""
    if text is None:
        raise BadMessage(f"send JSON text messages of at most {MAX_MESSAGE} bytes")
    try:
        message = json.loads(text)
    except ValueError:
        raise BadMessage("not JSON") from None
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "ping":
        return Ping(type="ping")
    if kind == "list":
        offset = message.get("offset", 0)
        if type(offset) is not int or offset < 0:
            raise BadMessage("offset must be a non-negative integer")
        return ListSubscriptions(type="list", offset=offset)
    if kind not in ("subscribe", "unsubscribe"):
        raise BadMessage('"type" must be subscribe, unsubscribe, list or ping')
    names = {"instruments": _names(message, "instruments", None)}
    names["events"] = _names(message, "events", KINDS)
    resume = message.get("last_event_id")
    if resume is not None and (kind != "subscribe" or type(resume) is not int or resume < 0):
        raise BadMessage("last_event_id goes with subscribe, as a non-negative integer")
    if kind == "unsubscribe":
        return Unsubscribe(type="unsubscribe", **names)
    return Subscribe(type="subscribe", last_event_id=resume, **names)


def _names(message: dict[str, Any], field: str, allowed: tuple[str, ...] | None) -> list[str]:
    value = message.get(field) or []
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise BadMessage(f"{field} must be a list of at most {MAX_ITEMS} names")
    for name in value:
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise BadMessage(f"{field} holds names (1-64 characters)")
    if allowed is not None and (unknown := sorted(set(value) - set(allowed))):
        raise BadMessage(
            f"unknown event types {', '.join(unknown)}; known: {', '.join(allowed)}",
            "unknown_events",
            unknown=unknown,
        )
    return value


# -- server messages, built -------------------------------------------------------------------


def hello(rules: set[Rule], replica: str | None) -> Hello:
    """The first message: the subscriptions the connection starts with (its key's stored)."""
    shown = sorted((r.shown() for r in rules), key=lambda r: json.dumps(r.model_dump()))
    return Hello(subscriptions=shown, count=len(rules), replica=replica)


def changed(kind: str, rule: Rule | None, count: int) -> Subscribed | Unsubscribed:
    """The answer to subscribe/unsubscribe: the rule added or removed (none if unchanged)."""
    shown = [] if rule is None else [rule.shown()]
    if kind == "subscribe":
        return Subscribed(added=shown, count=count)
    return Unsubscribed(removed=shown, count=count)


def listing(rules: list[Rule], offset: int) -> Subscriptions:
    """One page of at most `LIST_MAX` subscriptions, in a stable order."""
    page = rules[offset : offset + LIST_MAX]
    following = offset + len(page) if offset + len(page) < len(rules) else None
    return Subscriptions(
        subscriptions=[r.shown() for r in page], count=len(rules), next_offset=following
    )


def pong(cursor: int) -> Pong:
    """The answer to a ping."""
    return Pong(last_event_id=cursor, at=time.time())


def heartbeat(cursor: int) -> Heartbeat:
    """The notice after a silence."""
    return Heartbeat(last_event_id=cursor, at=time.time())


def lagged(reason: Literal["overflow", "unknown_id", "too_old"], last_event_id: int) -> Lagged:
    """Events up to `last_event_id` were skipped."""
    return Lagged(reason=reason, last_event_id=last_event_id)

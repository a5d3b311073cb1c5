"""The `/ws` protocol's vocabulary: close codes, limits, client messages and server replies.

Parsing is a pure function of the text a client sent (no socket, no database), so each rule
of the protocol is checked in one place; `serve_app.live` runs it and `live_feed` fans out.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from core.events import KINDS

MAX_MESSAGE = 64 * 1024  # bytes of one client message (the frame limit where we set it)
MAX_ITEMS = 200  # names in one subscribe/unsubscribe (the REST API's limit too)
QUEUE_MAX = 1_000  # events waiting for one client before it is told it lagged
CONTROL_MAX = 64  # replies (pong, error, subscribed) waiting for a client that is not reading
LIST_MAX = 100  # subscriptions in one `subscriptions` reply (more: ask with an offset)

CLOSE_RESTART, CLOSE_NOT_READY, CLOSE_TOO_BIG = 1012, 1013, 1009
CLOSE_BAD_QUERY, CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN = 4400, 4401, 4403
CLOSE_NOT_READING = 4408  # its replies piled up: the client does not read what it is sent
CLOSE_TOO_MANY = 4429  # the key's request rate, failed key attempts, or sockets per key


class BadMessage(ValueError):
    """A client message this protocol cannot take; answered with an `error` message."""

    def __init__(self, message: str, code: str = "invalid_message", **detail: Any) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail

    def reply(self) -> dict[str, Any]:
        """The `error` message that answers it."""
        return {"type": "error", "code": self.code, "message": str(self), **self.detail}


@dataclass(frozen=True, slots=True)
class Rule:
    """One subscription: instruments and event types, an empty set meaning all."""

    instruments: frozenset[str]
    events: frozenset[str]

    def matches(self, event: dict[str, Any]) -> bool:
        """True when `event` is one this subscription asks for."""
        instrument = event.get("instrument")
        return (not self.instruments or instrument is None or instrument in self.instruments) and (
            not self.events or event["type"] in self.events
        )

    def as_dict(self) -> dict[str, list[str]]:
        """As shown to the client."""
        return {"instruments": sorted(self.instruments), "events": sorted(self.events)}


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed client message: `kind` is subscribe, unsubscribe, list or ping."""

    kind: str
    rule: Rule | None = None
    last_event_id: int | None = None
    offset: int = 0


def too_big(message: dict[str, Any]) -> bool:
    """True when an ASGI `websocket.receive` message carries over `MAX_MESSAGE` bytes."""
    text, data = message.get("text"), message.get("bytes")
    if text is not None:  # UTF-8 takes 1-4 bytes a character: encode only when in doubt
        return len(text) > MAX_MESSAGE or (
            len(text) * 4 > MAX_MESSAGE and len(text.encode()) > MAX_MESSAGE
        )
    return data is not None and len(data) > MAX_MESSAGE


def parse(text: str | None) -> Command:
    """The command a client's text message holds; `BadMessage` when it holds none."""
    if text is None:
        raise BadMessage(f"send JSON text messages of at most {MAX_MESSAGE} bytes")
    try:
        message = json.loads(text)
    except ValueError:
        raise BadMessage("not JSON") from None
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "ping":
        return Command("ping")
    if kind == "list":
        offset = message.get("offset", 0)
        if type(offset) is not int or offset < 0:
            raise BadMessage("offset must be a non-negative integer")
        return Command("list", offset=offset)
    if kind not in ("subscribe", "unsubscribe"):
        raise BadMessage('"type" must be subscribe, unsubscribe, list or ping')
    rule = Rule(_names(message, "instruments", None), _names(message, "events", KINDS))
    resume = message.get("last_event_id")
    if resume is not None and (kind != "subscribe" or type(resume) is not int or resume < 0):
        raise BadMessage("last_event_id goes with subscribe, as a non-negative integer")
    return Command(kind, rule, resume)


def _names(message: dict[str, Any], field: str, allowed: tuple[str, ...] | None) -> frozenset:
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
    return frozenset(value)


# -- server messages ------------------------------------------------------------------------


def hello(rules: set[Rule], replica: str | None) -> dict[str, Any]:
    """The first message: the subscriptions the connection starts with (its key's stored)."""
    listed = sorted((r.as_dict() for r in rules), key=json.dumps)
    return {"type": "subscribed", "subscriptions": listed, "count": len(rules), "replica": replica}


def changed(kind: str, rule: Rule | None, count: int) -> dict[str, Any]:
    """The answer to subscribe/unsubscribe: the rule added or removed (none if unchanged)."""
    field, reply = ("added", "subscribed") if kind == "subscribe" else ("removed", "unsubscribed")
    return {"type": reply, field: [] if rule is None else [rule.as_dict()], "count": count}


def listing(rules: list[Rule], offset: int) -> dict[str, Any]:
    """One page of at most `LIST_MAX` subscriptions, in a stable order."""
    page = rules[offset : offset + LIST_MAX]
    following = offset + len(page) if offset + len(page) < len(rules) else None
    return {
        "type": "subscriptions",
        "subscriptions": [r.as_dict() for r in page],
        "count": len(rules),
        "next_offset": following,
    }


def pong(cursor: int) -> dict[str, Any]:
    """The answer to a ping."""
    return {"type": "pong", "last_event_id": cursor, "at": time.time()}


def lagged(reason: str, last_event_id: int) -> dict[str, Any]:
    """Events up to `last_event_id` were skipped."""
    return {
        "type": "lagged",
        "reason": reason,
        "last_event_id": last_event_id,
        "message": "events were skipped: refetch state from the API, or reconnect with "
        "an older last_event_id while the replay buffer still holds it",
    }

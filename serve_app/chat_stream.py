"""A chat answer as events, and their framing as Server-Sent Events.

An answer is `start`, `token`…, then `done` (the stored answer) or `error`. The chat
service makes them (`serve_app.chat_service`); the route frames them as SSE, or keeps only
the `done` event's data for a plain JSON answer.
"""

import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import LLMError

log = logging.getLogger("stockray.chat")
TOKEN_CHARS = 48  # extractive answers stream in pieces of this size, like a model's deltas
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True, slots=True)
class ChatEvent:
    """One event of an answer, with its JSON data."""

    event: Literal["start", "token", "done", "error"]
    data: dict[str, Any]

    def frame(self) -> str:
        """The event as one SSE frame."""
        return f"event: {self.event}\ndata: {json.dumps(self.data, ensure_ascii=False)}\n\n"


def start_event(session_id: str, message_id: str, replayed: bool) -> ChatEvent:
    """The turn was claimed (or, `replayed`, answered before)."""
    data = {"session_id": session_id, "message_id": message_id, "replayed": replayed}
    return ChatEvent("start", data)


def token_event(text: str) -> ChatEvent:
    """A piece of the answer's text."""
    return ChatEvent("token", {"text": text})


def done_event(message: dict[str, Any]) -> ChatEvent:
    """The stored answer, as the API shows a message."""
    return ChatEvent("done", message)


def error_event(err: BaseException) -> ChatEvent:
    """The turn failed (and stays retryable); the client learns whether the LLM did it."""
    if isinstance(err, LLMError):
        code, message = "llm_failed", "the language model failed mid-answer; retry the message"
    else:
        code, message = "chat_failed", "the answer could not be completed; retry the message"
    return ChatEvent("error", {"error": {"code": code, "message": message,
                                         "details": {"retryable": True}}})  # fmt: skip


def pieces(text: str) -> Iterator[str]:
    """An answer made whole (extractive) in pieces, as a model would stream it."""
    for i in range(0, len(text), TOKEN_CHARS):
        yield text[i : i + TOKEN_CHARS]


async def sse(first: ChatEvent, events: AsyncIterator[ChatEvent]) -> AsyncIterator[str]:
    """The events as SSE frames; a failure of the source ends the stream with `error`."""
    try:
        yield first.frame()
        async for event in events:
            yield event.frame()
    except Exception as err:  # e.g. the chat replica died mid-answer
        log.warning("chat stream failed: %s", type(err).__name__)
        yield error_event(err).frame()
    finally:
        await events.aclose()

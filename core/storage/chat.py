"""Chat's storage: sessions owned by a key, user turns claimed while answered, answers, and
the articles an answer may rest on.

A retried POST is safe: an `Idempotency-Key` names the session (per key) and the user turn
(per session), so a retry finds what the first attempt made; a turn is claimed for
`CLAIM_S` so that a concurrent duplicate waits instead of spending the LLM budget twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from core.errors import ChatNotFound, IdempotencyConflict, TurnInProgress
from core.storage.bars import instrument

HISTORY_TURNS = 4  # earlier (question, answer) pairs of the session in the prompt
HISTORY_CHARS = 1500
CLAIM_S = 120  # a pending turn whose answerer vanished may be taken over after this
_CLAIM = f"now() + interval '{CLAIM_S} seconds'"

_ARTICLES = """
    SELECT a.fingerprint, a.title, a.summary, a.url, a.published_at,
           (SELECT x.sentiment FROM analyses x
            WHERE x.fingerprint = a.fingerprint AND x.instrument_id = $1
            ORDER BY (x.method = 'llm') DESC, x.created_at DESC LIMIT 1) AS sentiment
    FROM articles a JOIN article_instruments ai ON ai.fingerprint = a.fingerprint
    WHERE ai.instrument_id = $1 AND (a.fingerprint = ANY($2::text[]) OR a.fingerprint IN (
        SELECT fingerprint FROM article_instruments ai2 JOIN articles a2 USING (fingerprint)
        WHERE ai2.instrument_id = $1 ORDER BY a2.published_at DESC LIMIT $3))
    ORDER BY a.published_at DESC, a.fingerprint"""
_NEW_SESSION = """
    INSERT INTO chat_sessions (key_id, instrument_id, idempotency_key) VALUES ($1, $2, $3)
    ON CONFLICT (key_id, idempotency_key) DO NOTHING RETURNING *"""
_SESSION_BY_KEY = "SELECT * FROM chat_sessions WHERE key_id = $1 AND idempotency_key = $2"
_OWNED_SESSION = "SELECT * FROM chat_sessions WHERE id = $1 AND key_id = $2"
_SESSIONS = "SELECT * FROM chat_sessions WHERE key_id = $1 ORDER BY created_at DESC, id LIMIT $2"
_MESSAGES = """
    SELECT * FROM (SELECT * FROM chat_messages WHERE session_id = $1
                   ORDER BY seq DESC LIMIT $2) m ORDER BY seq"""
_NEW_TURN = f"""
    INSERT INTO chat_messages (session_id, role, content, idempotency_key, state, claimed_until)
    VALUES ($1, 'user', $2, $3, 'pending', {_CLAIM})
    ON CONFLICT (session_id, idempotency_key) DO NOTHING RETURNING *"""
_TURN_BY_KEY = "SELECT * FROM chat_messages WHERE session_id = $1 AND idempotency_key = $2"
_ANSWER_TO = "SELECT * FROM chat_messages WHERE reply_to = $1"
_RETAKE = f"""
    UPDATE chat_messages SET state = 'pending', claimed_until = {_CLAIM}
    WHERE id = $1 AND (state = 'failed' OR claimed_until < now()) RETURNING *"""
_NEW_ANSWER = """
    INSERT INTO chat_messages (session_id, role, content, reply_to, method, model, cost_micro,
                               citations, detail)
    VALUES ($1, 'assistant', $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (reply_to) DO NOTHING RETURNING *"""
_ANSWERED = "UPDATE chat_messages SET state = 'answered', claimed_until = NULL WHERE id = $1"
_FAILED = """
    UPDATE chat_messages SET state = 'failed', claimed_until = NULL
    WHERE id = $1 AND state = 'pending'"""
_HISTORY = """
    SELECT u.content AS question, a.content AS answer
    FROM chat_messages u JOIN chat_messages a ON a.reply_to = u.id
    WHERE u.session_id = $1 AND u.seq < $2 ORDER BY u.seq DESC LIMIT $3"""


@dataclass(frozen=True, slots=True)
class ChatSession:
    """A chat about one instrument, owned by an API key."""

    id: uuid.UUID
    key_id: uuid.UUID
    instrument_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A user turn (with its `state`) or an answer (`reply_to` its turn, with `method`,
    `model`, cost, citations and detail)."""

    id: uuid.UUID
    session_id: uuid.UUID
    seq: int
    role: str
    content: str
    created_at: datetime
    state: str | None = None
    reply_to: uuid.UUID | None = None
    method: str | None = None
    model: str | None = None
    cost_micro: int = 0
    citations: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroundingArticle:
    """An article about the instrument, with its latest verdict (an LLM's first)."""

    fingerprint: str
    title: str | None
    summary: str | None
    url: str | None
    published_at: datetime | None
    sentiment: float | None


@dataclass(frozen=True, slots=True)
class Turn:
    """A claimed user message to answer, or (`answer` set) one answered before."""

    user_message: ChatMessage
    answer: ChatMessage | None = None


class AnswerLike(Protocol):
    """What an answer to store holds (`core.chat.Answer`)."""

    content: str
    citations: list[dict[str, Any]]
    method: str
    model: str | None
    cost_usd: float
    detail: dict[str, Any]


def _session(row: asyncpg.Record) -> ChatSession:
    return ChatSession(row["id"], row["key_id"], row["instrument_id"], row["created_at"])


def _message(row: asyncpg.Record) -> ChatMessage:
    return ChatMessage(
        row["id"], row["session_id"], row["seq"], row["role"], row["content"],
        row["created_at"], row["state"], row["reply_to"], row["method"], row["model"],
        row["cost_micro"], row["citations"], row["detail"],
    )  # fmt: skip


def session_view(session: ChatSession) -> dict[str, Any]:
    """A session as the API shows it."""
    return {"id": str(session.id), "instrument": session.instrument_id,
            "created_at": session.created_at.isoformat()}  # fmt: skip


def message_view(message: ChatMessage) -> dict[str, Any]:
    """A message as the API shows it (answers with method, citations and cost)."""
    m = message
    out = {"id": str(m.id), "role": m.role, "content": m.content,
           "created_at": m.created_at.isoformat()}  # fmt: skip
    if m.role == "assistant":
        out |= {
            "reply_to": str(m.reply_to),
            "method": m.method,
            "model": m.model,
            "citations": m.citations,
            "cost_usd": m.cost_micro / 1e6,
            **({"detail": m.detail} if m.detail else {}),
        }
    return out


async def grounding_articles(
    conn: asyncpg.Connection, instrument_id: str, cited: list[str], recent: int
) -> list[GroundingArticle]:
    """The instrument's `recent` newest articles and those in `cited`, newest first."""
    rows = await conn.fetch(_ARTICLES, instrument_id, cited, recent)
    return [GroundingArticle(**dict(r)) for r in rows]


async def create_session(
    conn: asyncpg.Connection, key_id: uuid.UUID, instrument_id: str, idempotency_key: str | None
) -> tuple[ChatSession, bool]:
    """(the session, created?); a repeated idempotency key returns the session it made."""
    if await instrument(conn, instrument_id) is None:
        raise ChatNotFound(f"unknown instrument {instrument_id!r}")
    row = await conn.fetchrow(_NEW_SESSION, key_id, instrument_id, idempotency_key)
    if row is not None:
        return _session(row), True
    session = _session(await conn.fetchrow(_SESSION_BY_KEY, key_id, idempotency_key))
    if session.instrument_id != instrument_id:
        raise IdempotencyConflict(
            "this Idempotency-Key was used for a session on another instrument"
        )
    return session, False


async def owned_session(
    conn: asyncpg.Connection, key_id: uuid.UUID, session_id: uuid.UUID
) -> ChatSession:
    """The session if this key owns it; anyone else's (or none) is `ChatNotFound`."""
    row = await conn.fetchrow(_OWNED_SESSION, session_id, key_id)
    if row is None:
        raise ChatNotFound(f"no chat session {str(session_id)!r}")
    return _session(row)


async def list_sessions(
    conn: asyncpg.Connection, key_id: uuid.UUID, limit: int
) -> list[ChatSession]:
    """The key's own sessions, newest first."""
    return [_session(r) for r in await conn.fetch(_SESSIONS, key_id, limit)]


async def list_messages(
    conn: asyncpg.Connection, session_id: uuid.UUID, limit: int
) -> list[ChatMessage]:
    """The session's last `limit` messages, oldest first."""
    return [_message(r) for r in await conn.fetch(_MESSAGES, session_id, limit)]


async def begin_turn(
    conn: asyncpg.Connection, session_id: uuid.UUID, content: str, idempotency_key: str | None
) -> Turn:
    """Store and claim the user's message; a retried key returns its answer or retakes it."""
    row = await conn.fetchrow(_NEW_TURN, session_id, content, idempotency_key)
    if row is not None:
        return Turn(_message(row))
    turn = _message(await conn.fetchrow(_TURN_BY_KEY, session_id, idempotency_key))
    if turn.content != content:
        raise IdempotencyConflict("this Idempotency-Key was used for a different message")
    if turn.state == "answered":
        return Turn(turn, _message(await conn.fetchrow(_ANSWER_TO, turn.id)))
    retaken = await conn.fetchrow(_RETAKE, turn.id)
    if retaken is None:
        raise TurnInProgress("this message is still being answered; retry soon")
    return Turn(_message(retaken))


async def finish_turn(conn: asyncpg.Connection, turn: Turn, answer: AnswerLike) -> ChatMessage:
    """Store the answer and mark the turn answered (once, whoever finishes first)."""
    user = turn.user_message
    async with conn.transaction():
        row = await conn.fetchrow(
            _NEW_ANSWER, user.session_id, answer.content, user.id, answer.method, answer.model,
            round(answer.cost_usd * 1e6), answer.citations, answer.detail,
        )  # fmt: skip
        await conn.execute(_ANSWERED, user.id)
    if row is None:
        row = await conn.fetchrow(_ANSWER_TO, user.id)
    return _message(row)


async def fail_turn(conn: asyncpg.Connection, turn: Turn) -> None:
    """Release a turn that could not be answered; a retry with its key may take it again."""
    await conn.execute(_FAILED, turn.user_message.id)


async def history(
    conn: asyncpg.Connection, session_id: uuid.UUID, before_seq: int
) -> list[dict[str, str]]:
    """Earlier answered turns as chat messages, oldest first (last HISTORY_TURNS)."""
    rows = await conn.fetch(_HISTORY, session_id, before_seq, HISTORY_TURNS)
    out: list[dict[str, str]] = []
    for r in reversed(rows):
        out += [{"role": "user", "content": r["question"][:HISTORY_CHARS]},
                {"role": "assistant", "content": r["answer"][:HISTORY_CHARS]}]  # fmt: skip
    return out

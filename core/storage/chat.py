"""Chat's storage: sessions owned by a key, user turns claimed while answered, answers.

A retried POST is safe: an `Idempotency-Key` names the session (per key) and the user turn
(per session), so a retry finds what the first attempt made; a turn is claimed for
`CLAIM_S` so that a concurrent duplicate waits instead of spending the LLM budget twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from core.chat import Answer, ChatRefused

HISTORY_TURNS = 4  # earlier (question, answer) pairs of the session in the prompt
HISTORY_CHARS = 1500
CLAIM_S = 120  # a pending turn whose answerer vanished may be taken over after this


def session_view(row: asyncpg.Record) -> dict[str, Any]:
    """A session as the API shows it."""
    return {"id": str(row["id"]), "instrument": row["instrument_id"],
            "created_at": row["created_at"].isoformat()}  # fmt: skip


def message_view(row: asyncpg.Record) -> dict[str, Any]:
    """A message as the API shows it (answers with method, citations and cost)."""
    out = {"id": str(row["id"]), "role": row["role"], "content": row["content"],
           "created_at": row["created_at"].isoformat()}  # fmt: skip
    if row["role"] == "assistant":
        out |= {
            "reply_to": str(row["reply_to"]),
            "method": row["method"],
            "model": row["model"],
            "citations": row["citations"],
            "cost_usd": row["cost_micro"] / 1e6,
            **({"detail": row["detail"]} if row["detail"] else {}),
        }
    return out


async def create_session(
    conn: asyncpg.Connection, key_id: uuid.UUID, instrument_id: str, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """(the session, created?); a repeated idempotency key returns the session it made."""
    if await conn.fetchval("SELECT 1 FROM instruments WHERE id = $1", instrument_id) is None:
        raise ChatRefused(404, "not_found", f"unknown instrument {instrument_id!r}")
    row = await conn.fetchrow(
        """INSERT INTO chat_sessions (key_id, instrument_id, idempotency_key) VALUES ($1, $2, $3)
           ON CONFLICT (key_id, idempotency_key) DO NOTHING RETURNING *""",
        key_id, instrument_id, idempotency_key,
    )  # fmt: skip
    if row is not None:
        return session_view(row), True
    row = await conn.fetchrow(
        "SELECT * FROM chat_sessions WHERE key_id = $1 AND idempotency_key = $2",
        key_id, idempotency_key,
    )  # fmt: skip
    if row["instrument_id"] != instrument_id:
        message = "this Idempotency-Key was used for a session on another instrument"
        raise ChatRefused(409, "idempotency_conflict", message)
    return session_view(row), False


async def owned_session(
    conn: asyncpg.Connection, key_id: uuid.UUID, session_id: uuid.UUID
) -> asyncpg.Record:
    """The session if this key owns it; anyone else's (or none) is 404."""
    row = await conn.fetchrow(
        "SELECT * FROM chat_sessions WHERE id = $1 AND key_id = $2", session_id, key_id
    )
    if row is None:
        raise ChatRefused(404, "not_found", f"no chat session {str(session_id)!r}")
    return row


async def list_messages(
    conn: asyncpg.Connection, session_id: uuid.UUID, limit: int
) -> list[dict[str, Any]]:
    """The session's last `limit` messages, oldest first."""
    rows = await conn.fetch(
        """SELECT * FROM (SELECT * FROM chat_messages WHERE session_id = $1
                          ORDER BY seq DESC LIMIT $2) m ORDER BY seq""",
        session_id, limit,
    )  # fmt: skip
    return [message_view(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Turn:
    """A claimed user message to answer, or (`answer` set) one answered before."""

    user_message: asyncpg.Record
    answer: asyncpg.Record | None = None


async def begin_turn(
    conn: asyncpg.Connection, session_id: uuid.UUID, content: str, idempotency_key: str | None
) -> Turn:
    """Store and claim the user's message; a retried key returns its answer or retakes it."""
    claim = f"now() + interval '{CLAIM_S} seconds'"
    row = await conn.fetchrow(
        f"""INSERT INTO chat_messages (session_id, role, content, idempotency_key, state,
                                       claimed_until)
            VALUES ($1, 'user', $2, $3, 'pending', {claim})
            ON CONFLICT (session_id, idempotency_key) DO NOTHING RETURNING *""",
        session_id, content, idempotency_key,
    )  # fmt: skip
    if row is not None:
        return Turn(row)
    row = await conn.fetchrow(
        "SELECT * FROM chat_messages WHERE session_id = $1 AND idempotency_key = $2",
        session_id, idempotency_key,
    )  # fmt: skip
    if row["content"] != content:
        message = "this Idempotency-Key was used for a different message"
        raise ChatRefused(409, "idempotency_conflict", message)
    if row["state"] == "answered":
        answer = await conn.fetchrow("SELECT * FROM chat_messages WHERE reply_to = $1", row["id"])
        return Turn(row, answer)
    retaken = await conn.fetchrow(
        f"""UPDATE chat_messages SET state = 'pending', claimed_until = {claim}
            WHERE id = $1 AND (state = 'failed' OR claimed_until < now()) RETURNING *""",
        row["id"],
    )  # fmt: skip
    if retaken is None:
        raise ChatRefused(409, "in_progress", "this message is still being answered; retry soon")
    return Turn(retaken)


async def finish_turn(conn: asyncpg.Connection, turn: Turn, answer: Answer) -> asyncpg.Record:
    """Store the answer and mark the turn answered (once, whoever finishes first)."""
    user = turn.user_message
    async with conn.transaction():
        row = await conn.fetchrow(
            """INSERT INTO chat_messages (session_id, role, content, reply_to, method, model,
                                          cost_micro, citations, detail)
               VALUES ($1, 'assistant', $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (reply_to) DO NOTHING RETURNING *""",
            user["session_id"], answer.content, user["id"], answer.method, answer.model,
            round(answer.cost_usd * 1e6), answer.citations, answer.detail,
        )  # fmt: skip
        await conn.execute(
            "UPDATE chat_messages SET state = 'answered', claimed_until = NULL WHERE id = $1",
            user["id"],
        )
    if row is None:
        row = await conn.fetchrow("SELECT * FROM chat_messages WHERE reply_to = $1", user["id"])
    return row


async def fail_turn(conn: asyncpg.Connection, turn: Turn) -> None:
    """Release a turn that could not be answered; a retry with its key may take it again."""
    await conn.execute(
        "UPDATE chat_messages SET state = 'failed', claimed_until = NULL "
        "WHERE id = $1 AND state = 'pending'",
        turn.user_message["id"],
    )


async def history(
    conn: asyncpg.Connection, session_id: uuid.UUID, before_seq: int
) -> list[dict[str, str]]:
    """Earlier answered turns as chat messages, oldest first (last HISTORY_TURNS)."""
    rows = await conn.fetch(
        """SELECT u.content AS question, a.content AS answer
           FROM chat_messages u JOIN chat_messages a ON a.reply_to = u.id
           WHERE u.session_id = $1 AND u.seq < $2 ORDER BY u.seq DESC LIMIT $3""",
        session_id, before_seq, HISTORY_TURNS,
    )  # fmt: skip
    out: list[dict[str, str]] = []
    for r in reversed(rows):
        out += [{"role": "user", "content": r["question"][:HISTORY_CHARS]},
                {"role": "assistant", "content": r["answer"][:HISTORY_CHARS]}]  # fmt: skip
    return out


async def list_sessions(
    conn: asyncpg.Connection, key_id: uuid.UUID, limit: int
) -> list[dict[str, Any]]:
    """The key's own sessions, newest first."""
    rows = await conn.fetch(
        "SELECT * FROM chat_sessions WHERE key_id = $1 ORDER BY created_at DESC, id LIMIT $2",
        key_id, limit,
    )  # fmt: skip
    return [session_view(r) for r in rows]

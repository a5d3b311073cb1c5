"""Chat's routes: sessions, messages and the key's quota, about an instrument's stored
reports and articles.

Sessions are read and made here, on the API replica; answers come from the chat service
(`serve_app.chat_service`). With `Accept: text/event-stream` an answer streams as SSE
(`serve_app.chat_stream`): `start`, `token`…, then `done` (the stored answer, citations
checked) or `error`. Refusals are `core.errors.ChatRefused`, answered with their status.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, StringConstraints

from core import chat as core
from core.errors import ChatRefused
from core.llm.budget import Quota, next_day_start, quota_state, today
from core.storage import chat as store
from core.storage.api_keys import KeyInfo
from serve_app.auth import require
from serve_app.chat_service import Chat, ChatClient, ChatService
from serve_app.chat_stream import SSE_HEADERS, sse
from serve_app.context import Ctx
from serve_app.errors import KEYED, WITH_BODY, ApiError, error_responses, uuid_or_404
from serve_app.schemas import CHAT_STREAM, ChatHistory, ChatMessage, ChatSession, ChatSessions

router = APIRouter(prefix="/api/v1", tags=["chat"], responses=error_responses(*KEYED, 422))
__all__ = ["Chat", "ChatService", "router"]  # the deployment and service, for app.py and tests

Content = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=core.MAX_MESSAGE_CHARS)
]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=core.MAX_IDEMPOTENCY_KEY_CHARS)
]


class SessionIn(BaseModel):
    """A new chat session about one instrument."""

    instrument: str = Field(min_length=1, max_length=64)


class MessageIn(BaseModel):
    """A question in a chat session."""

    content: Content


def _refused(err: ChatRefused) -> ApiError:
    """The API's answer to a refusal: its declared status and code (and Retry-After)."""
    headers = None if err.retry_after is None else {"Retry-After": f"{err.retry_after:g}"}
    return ApiError(err.status, err.code, err.message, headers=headers)


@router.post(
    "/chat/sessions",
    status_code=201,
    response_model=ChatSession,
    responses=error_responses(*WITH_BODY, 403, 404, 409),
)
async def create_session(
    ctx: Ctx,
    key: Annotated[KeyInfo, Depends(require("write"))],
    body: Annotated[SessionIn, Body()],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Start a chat about `instrument`, owned by the caller's key (idempotent by key)."""
    pool = await ctx.pool()
    try:
        async with pool.acquire() as conn:
            session, created = await store.create_session(
                conn, key.id, body.instrument, idempotency_key
            )
    except ChatRefused as err:
        raise _refused(err) from None
    headers = {} if created else {"Idempotent-Replayed": "true"}
    return JSONResponse(store.session_view(session), status_code=201, headers=headers)


@router.post(
    "/chat/sessions/{session_id}/messages",
    status_code=201,
    response_model=ChatMessage,
    response_model_exclude_unset=True,
    responses={**CHAT_STREAM, **error_responses(*WITH_BODY, 403, 404, 409)},
)
async def post_message(
    request: Request,
    ctx: Ctx,
    session_id: str,
    key: Annotated[KeyInfo, Depends(require("write"))],
    body: Annotated[MessageIn, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Ask a question; the answer cites the instrument's stored report and articles.
    Streamed as SSE with `Accept: text/event-stream`, else one JSON message."""
    sid = str(uuid_or_404(session_id, "chat session"))
    client = ChatClient(ctx.chat)
    args = (sid, str(key.id), body.content, idempotency_key)
    try:
        if "text/event-stream" in request.headers.get("accept", ""):
            events = client.events(*args)
            first = await anext(events)  # refusals (404, 409) surface before the stream
            return StreamingResponse(
                sse(first, events), media_type="text/event-stream", headers=SSE_HEADERS
            )
        message = await client.answer(*args)
    except ChatRefused as err:
        raise _refused(err) from None
    return JSONResponse(message, status_code=201)


@router.get(
    "/chat/sessions/{session_id}/messages",
    response_model=ChatHistory,
    response_model_exclude_unset=True,
    responses=error_responses(404),
)
async def get_messages(
    ctx: Ctx,
    session_id: str,
    key: Annotated[KeyInfo, Depends(require("read"))],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The session's last `limit` messages, oldest first; another key's session is 404."""
    sid = uuid_or_404(session_id, "chat session")
    pool = await ctx.pool()
    async with pool.acquire() as conn:
        try:
            session = await store.owned_session(conn, key.id, sid)
        except ChatRefused as err:
            raise _refused(err) from None
        messages = await store.list_messages(conn, sid, limit)
    return {
        "session": store.session_view(session),
        "messages": [store.message_view(m) for m in messages],
    }


@router.get("/chat/sessions", response_model=ChatSessions)
async def list_sessions(
    ctx: Ctx,
    key: Annotated[KeyInfo, Depends(require("read"))],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The caller's own chat sessions, newest first."""
    async with (await ctx.pool()).acquire() as conn:
        sessions = await store.list_sessions(conn, key.id, limit)
    return {"sessions": [store.session_view(s) for s in sessions]}


class ChatQuotaOut(BaseModel):
    """The caller's chat spend on the current UTC day against its daily quota."""

    day: str = Field(description="the UTC day (YYYY-MM-DD)")
    limit_usd: float = Field(description="the key's own quota, else the default setting")
    reserved_usd: float = Field(description="held by chat calls in flight")
    spent_usd: float
    left_usd: float
    resets_at: str = Field(description="next UTC midnight, when a new day's quota starts")


@router.get("/chat/quota", responses=error_responses(404))
async def get_quota(ctx: Ctx, key: Annotated[KeyInfo, Depends(require("read"))]) -> ChatQuotaOut:
    """The caller's chat spend today and its daily chat quota (over it, answers are
    extractive, `method: lexicon` with `detail.quota_exceeded`, until `resets_at`)."""
    day = today()
    quota = Quota.usd(key.id, ctx.settings.chat_usd_per_key_per_day)
    async with (await ctx.pool()).acquire() as conn:
        state = await quota_state(conn, quota, day)
    if state is None:  # the key was deleted after its check
        raise ApiError(404, "not_found", "no such API key")
    return ChatQuotaOut(day=day.isoformat(), resets_at=next_day_start().isoformat(), **state)

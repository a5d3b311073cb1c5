"""Chat about an instrument, grounded in its stored reports and articles.

Sessions are read and made by the API replica; answers come from the `Chat` deployment
through its DeploymentHandle, or from a local `ChatService` (ASGI tests) — `ChatClient`
makes both look alike. With `Accept: text/event-stream` an answer streams as SSE:
`start`, `token`…, then `done` (the stored answer, citations checked) or `error`.
"""

# No `from __future__ import annotations`: Serve pickles the app with cloudpickle and
# FastAPI must resolve these endpoints' annotations in the replica (see serve_app/auth.py).
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, StringConstraints
from ray import serve
from ray.exceptions import RayTaskError
from ray.serve.handle import DeploymentHandle

from actors.llm import GatewayClient, gateway_handle
from configs.settings import CHAT_USD_PER_KEY_PER_DAY, load_settings
from core import chat as core
from core.errors import BudgetExceeded, LLMError
from core.llm.budget import Quota, QuotaExceeded, next_day_start, quota_state, today
from core.logs import configure_logging
from core.storage import chat as store
from core.storage.api_keys import KeyInfo
from serve_app.auth import require
from serve_app.context import AppContext, Ctx
from serve_app.errors import ApiError, uuid_or_404

log = logging.getLogger("stockray.chat")
router = APIRouter(prefix="/api/v1", tags=["chat"])
TOKEN_CHARS = 48  # extractive answers stream in pieces of this size, like a model's deltas
Event = dict[str, Any]


class ChatService:
    """Answers chat turns: grounding from Postgres, the LLM (`complete`/`stream`) under the
    key's daily quota or, without one, its budget or quota, an extractive answer (`lexicon`)."""

    def __init__(
        self,
        pool: Callable[[], Awaitable[asyncpg.Pool]],
        llm: Any | None,
        key_usd_per_day: float = CHAT_USD_PER_KEY_PER_DAY,
    ) -> None:
        self._pool = pool
        self.llm = llm
        self.key_usd_per_day = key_usd_per_day  # a key's quota unless it has its own

    async def llm_client(self) -> Any | None:
        """The LLM to ask (None: answer without one)."""
        return self.llm

    async def answer(
        self, session_id: str, key_id: str, content: str, idempotency_key: str | None
    ) -> Event:
        """The stored answer to one turn, as the `done` event's data (not streamed)."""
        async for event in self.answer_events(
            session_id, key_id, content, idempotency_key, stream=False
        ):
            if event["event"] == "done":
                return event["data"]
            if event["event"] == "error":
                raise core.ChatRefused(503, event["data"]["error"]["code"], "chat failed")
        raise core.ChatRefused(503, "chat_failed", "the turn ended without an answer")

    async def answer_events(
        self,
        session_id: str,
        key_id: str,
        content: str,
        idempotency_key: str | None,
        stream: bool = True,
    ) -> AsyncIterator[Event]:
        """`start`, then `token`s, then `done` or `error`; refusals raise before `start`."""
        pool = await self._pool()
        async with pool.acquire() as conn:
            session = await store.owned_session(conn, uuid.UUID(key_id), uuid.UUID(session_id))
            turn = await store.begin_turn(conn, session["id"], content, idempotency_key)
        replayed = turn.answer is not None
        start = {"session_id": session_id, "message_id": str(turn.user_message["id"])}
        yield {"event": "start", "data": {**start, "replayed": replayed}}
        if replayed:
            message = store.message_view(turn.answer)
            yield {"event": "token", "data": {"text": message["content"]}}
            yield {"event": "done", "data": message}
            return
        try:
            async with pool.acquire() as conn:
                grounding = await core.load_grounding(conn, session["instrument_id"])
                earlier = await store.history(conn, session["id"], turn.user_message["seq"])
            answer = None
            call = {
                "quota": Quota.usd(key_id, self.key_usd_per_day),
                "trace_id": str(turn.user_message["id"]),  # llm_usage rows name the turn
            }
            async for item in self._generate(grounding, earlier, content, stream, call):
                if isinstance(item, str):
                    yield {"event": "token", "data": {"text": item}}
                else:
                    answer = item
            async with pool.acquire() as conn:
                row = await store.finish_turn(conn, turn, answer)
        except Exception as err:  # the turn stays retryable; the client learns why
            log.warning("chat turn failed: %s: %s", type(err).__name__, err)
            async with pool.acquire() as conn:
                await store.fail_turn(conn, turn)
            yield _error_event(err)
            return
        except BaseException:  # the caller went away: free the turn for a retry
            async with pool.acquire() as conn:
                await store.fail_turn(conn, turn)
            raise
        yield {"event": "done", "data": store.message_view(row)}

    async def _generate(
        self,
        grounding: core.Grounding,
        earlier: list,
        question: str,
        stream: bool,
        call: dict[str, Any],
    ) -> AsyncIterator[str | core.Answer]:
        llm = await self.llm_client() if grounding.sources else None
        reason = "no LLM endpoint is configured" if grounding.sources else "no stored sources"
        spent_quota = None
        if llm is not None:
            messages = core.prompt(grounding, earlier, question)
            kwargs = {"max_tokens": core.ANSWER_MAX_TOKENS, "purpose": "chat", **call}
            sent = False
            try:
                if stream:
                    async for item in llm.stream(messages, **kwargs):
                        if isinstance(item, str):
                            sent = True
                            yield item
                        else:
                            done = item
                else:
                    done = await llm.complete(messages, **kwargs)
                yield core.llm_answer(done.text, grounding, done.model, done.cost_usd)
                return
            except QuotaExceeded as err:  # an answer still, saying the key's quota is spent
                reason = f"chat quota: {err.message}"
                spent_quota = {"resets_at": next_day_start().isoformat()}
            except BudgetExceeded as err:
                reason = f"LLM budget: {err.message}"
            except LLMError as err:
                if sent:  # half an answer is out: say it failed rather than append another
                    raise
                reason = f"LLM unavailable: {type(err).__name__}"
        answer = core.extractive_answer(grounding, question, reason)
        if spent_quota is not None:
            answer.detail["quota_exceeded"] = spent_quota
        if stream:
            for i in range(0, len(answer.content), TOKEN_CHARS):
                yield answer.content[i : i + TOKEN_CHARS]
        yield answer


def _error_event(err: BaseException) -> Event:
    if isinstance(err, LLMError):
        code, message = "llm_failed", "the language model failed mid-answer; retry the message"
    else:
        code, message = "chat_failed", "the answer could not be completed; retry the message"
    return {"event": "error", "data": {"error": {"code": code, "message": message,
                                                 "details": {"retryable": True}}}}  # fmt: skip


@serve.deployment
class Chat(ChatService):
    """The chat deployment: its own Postgres pool; the LLM through the gateway actor."""

    def __init__(self) -> None:
        settings = load_settings()
        configure_logging(settings)
        self.context = AppContext(settings)
        super().__init__(self.context.pool, None, settings.chat_usd_per_key_per_day)
        self._llm_checked = False

    async def llm_client(self) -> Any | None:
        """The gateway actor when it has an endpoint (checked once per replica)."""
        if not self._llm_checked:
            handle = gateway_handle()
            self.llm = GatewayClient(handle) if await handle.enabled.remote() else None
            self._llm_checked = True
        return self.llm

    async def check_health(self) -> None:
        """Serve's health check: the replica's event loop answers."""

    async def __del__(self) -> None:  # Serve awaits an async __del__ on graceful shutdown
        await self.context.close()


class ChatClient:
    """The routes' one way to the chat service: a Serve handle or a local `ChatService`."""

    def __init__(self, target: Any) -> None:
        if target is None:
            raise ApiError(503, "unavailable", "chat is not available on this server")
        self.target = target
        self.remote = isinstance(target, DeploymentHandle)

    async def answer(self, *args: Any) -> Event:
        """`ChatService.answer`, its refusals raised as such."""
        try:
            if self.remote:
                return await self.target.answer.remote(*args)
            return await self.target.answer(*args)
        except RayTaskError as err:
            raise (getattr(err, "cause", None) or err) from None

    async def events(self, *args: Any) -> AsyncIterator[Event]:
        """`ChatService.answer_events`; closing this closes (or cancels) the source."""
        if self.remote:
            source = self.target.options(stream=True).answer_events.remote(*args)
        else:
            source = self.target.answer_events(*args)
        finished = False
        try:
            async for event in source:
                yield event
            finished = True
        except RayTaskError as err:
            finished = True
            raise (getattr(err, "cause", None) or err) from None
        finally:
            if not finished and self.remote:
                source.cancel()
            elif not finished:
                await source.aclose()


# --- routes ------------------------------------------------------------------------------

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


def _refused(err: core.ChatRefused) -> ApiError:
    headers = {"Retry-After": "2"} if err.code == "in_progress" else None
    return ApiError(err.status, err.code, err.message, headers=headers)


@router.post("/chat/sessions", status_code=201)
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
    except core.ChatRefused as err:
        raise _refused(err) from None
    headers = {} if created else {"Idempotent-Replayed": "true"}
    return JSONResponse(session, status_code=201, headers=headers)


SSE_RESPONSE = {
    200: {
        "description": "SSE (`Accept: text/event-stream`): start, token…, then done or error",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.post("/chat/sessions/{session_id}/messages", status_code=201, responses=SSE_RESPONSE)
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
                _sse(first, events),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        message = await client.answer(*args)
    except core.ChatRefused as err:
        raise _refused(err) from None
    return JSONResponse(message, status_code=201)


async def _sse(first: Event, events: AsyncIterator[Event]) -> AsyncIterator[str]:
    try:
        yield _frame(first)
        async for event in events:
            yield _frame(event)
    except Exception as err:  # e.g. the chat replica died mid-answer
        log.warning("chat stream failed: %s", type(err).__name__)
        yield _frame(_error_event(err))
    finally:
        await events.aclose()


def _frame(event: Event) -> str:
    return f"event: {event['event']}\ndata: {json.dumps(event['data'], ensure_ascii=False)}\n\n"


@router.get("/chat/sessions/{session_id}/messages")
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
        except core.ChatRefused as err:
            raise _refused(err) from None
        messages = await store.list_messages(conn, sid, limit)
    return {"session": store.session_view(session), "messages": messages}


@router.get("/chat/sessions")
async def list_sessions(
    ctx: Ctx,
    key: Annotated[KeyInfo, Depends(require("read"))],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The caller's own chat sessions, newest first."""
    async with (await ctx.pool()).acquire() as conn:
        return {"sessions": await store.list_sessions(conn, key.id, limit)}


class ChatQuotaOut(BaseModel):
    """The caller's chat spend on the current UTC day against its daily quota."""

    day: str = Field(description="the UTC day (YYYY-MM-DD)")
    limit_usd: float = Field(description="the key's own quota, else the default setting")
    reserved_usd: float = Field(description="held by chat calls in flight")
    spent_usd: float
    left_usd: float
    resets_at: str = Field(description="next UTC midnight, when a new day's quota starts")


@router.get("/chat/quota")
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

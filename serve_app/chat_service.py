"""Answering chat turns: the `ChatService` (a turn from claim to stored answer), the `Chat`
deployment that runs it on its own replicas, and the `ChatClient` the routes reach it by.

Sessions are read and made by the API replica; answers come from the `Chat` deployment
through its DeploymentHandle, or from a local `ChatService` (ASGI tests): `ChatClient`
makes both look alike.
"""

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from ray import serve
from ray.exceptions import RayTaskError
from ray.serve.handle import DeploymentHandle

from actors.llm import GatewayClient, gateway_handle
from configs.settings import CHAT_USD_PER_KEY_PER_DAY, load_settings
from core import chat as core
from core.errors import BudgetExceeded, ChatFailed, LLMError, QuotaExceeded
from core.llm.budget import Quota, next_day_start
from core.logs import configure_logging
from core.storage import chat as store
from serve_app.chat_stream import (
    ChatEvent,
    done_event,
    error_event,
    pieces,
    start_event,
    token_event,
)
from serve_app.context import AppContext
from serve_app.errors import ApiError

log = logging.getLogger("stockray.chat")


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
    ) -> dict[str, Any]:
        """The stored answer to one turn, as the `done` event's data (not streamed)."""
        async for event in self.answer_events(
            session_id, key_id, content, idempotency_key, stream=False
        ):
            if event.event == "done":
                return event.data
            if event.event == "error":
                raise ChatFailed("chat failed", event.data["error"]["code"])
        raise ChatFailed("the turn ended without an answer")

    async def answer_events(
        self,
        session_id: str,
        key_id: str,
        content: str,
        idempotency_key: str | None,
        stream: bool = True,
    ) -> AsyncIterator[ChatEvent]:
        """`start`, then `token`s, then `done` or `error`; refusals raise before `start`."""
        pool = await self._pool()
        async with pool.acquire() as conn:
            session = await store.owned_session(conn, uuid.UUID(key_id), uuid.UUID(session_id))
            turn = await store.begin_turn(conn, session.id, content, idempotency_key)
        yield start_event(session_id, str(turn.user_message.id), turn.answer is not None)
        if turn.answer is not None:  # answered before: replayed
            yield token_event(turn.answer.content)
            yield done_event(store.message_view(turn.answer))
            return
        try:
            async with pool.acquire() as conn:
                grounding = await core.load_grounding(conn, session.instrument_id)
                earlier = await store.history(conn, session.id, turn.user_message.seq)
            answer = None
            call = {
                "quota": Quota.usd(key_id, self.key_usd_per_day),
                "trace_id": str(turn.user_message.id),  # llm_usage rows name the turn
            }
            async for item in self._generate(grounding, earlier, content, stream, call):
                if isinstance(item, str):
                    yield token_event(item)
                else:
                    answer = item
            async with pool.acquire() as conn:
                stored = await store.finish_turn(conn, turn, answer)
        except Exception as err:  # the turn stays retryable; the client learns why
            log.warning("chat turn failed: %s: %s", type(err).__name__, err)
            async with pool.acquire() as conn:
                await store.fail_turn(conn, turn)
            yield error_event(err)
            return
        except BaseException:  # the caller went away: free the turn for a retry
            async with pool.acquire() as conn:
                await store.fail_turn(conn, turn)
            raise
        yield done_event(store.message_view(stored))

    async def _generate(
        self,
        grounding: core.Grounding,
        earlier: list[dict[str, str]],
        question: str,
        stream: bool,
        call: dict[str, Any],
    ) -> AsyncIterator[str | core.Answer]:
        """The answer's text pieces (when streamed), then the answer: the LLM's, or an
        extractive one saying why not."""
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
            for piece in pieces(answer.content):
                yield piece
        yield answer


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

    async def answer(self, *args: Any) -> dict[str, Any]:
        """`ChatService.answer`, its refusals raised as such."""
        try:
            if self.remote:
                return await self.target.answer.remote(*args)
            return await self.target.answer(*args)
        except RayTaskError as err:
            raise (getattr(err, "cause", None) or err) from None

    async def events(self, *args: Any) -> AsyncIterator[ChatEvent]:
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

"""WebSocket `/ws`: live events, filtered per connection, resumable by `last_event_id`.

    ticket   POST /api/v1/ws/ticket (read scope) -> {"ticket": T, "expires_in_s": 30}
    connect  /ws?ticket=T[&last_event_id=N][&heartbeat_s=15]   (T: single use, 30 s)
             /ws?key=KEY  or the Authorization / X-API-Key header also work (older clients)
    client   {"type": "subscribe", "instruments": [...], "events": [...], "last_event_id": N}
             {"type": "unsubscribe", "instruments": [...], "events": [...]}
             {"type": "list", "offset": 0}   {"type": "ping"}
    server   {"type": "bar", "id": N, "instrument": "AAPL", "at": ..., "payload": {...}}
             {"type": "subscribed", "subscriptions": [...], "count": C}  first, the stored ones
             {"type": "subscribed", "added": [rule] or [], "count": C}   answers subscribe
             {"type": "unsubscribed", "removed": [rule], "count": C}     answers unsubscribe
             {"type": "subscriptions", "subscriptions": [...], "count": C, "next_offset": O}
                 answers list, at most 100 a page (next_offset null on the last)
             {"type": "pong"}
             {"type": "heartbeat", "last_event_id": N, "at": ...}  after heartbeat_s of silence
             {"type": "lagged", "reason": ..., "last_event_id": M}  events up to M were
                 skipped: refetch state from the API (or reconnect with an older id)
             {"type": "error", "code": ..., "message": ...}  a refused message, nothing changed;
                 the socket stays. Codes: invalid_message, unknown_instruments (+ "unknown":
                 the ids not on the watchlist), unknown_events, unknown_subscription,
                 too_many_subscriptions (more than STOCKRAY_WS_MAX_RULES on this socket)
    close    4401 no/bad key or ticket, or the key was revoked (re-checked every
             STOCKRAY_WS_KEY_RECHECK_S); 4403 scope; 4400 bad query; 4408 client not reading
             (its replies piled up); 4429 over the key's rate, too many failed attempts, or
             more than STOCKRAY_WS_MAX_SOCKETS_PER_KEY sockets of the key on this replica;
             1009 a message over 64 KiB; 1013 not ready; 1012 replica stopping

A connection starts with its key's stored subscriptions; a subscription is an (instruments,
events) pair, empty meaning all, and an event goes out if any subscription matches it
(events without an instrument match every instrument). Instruments must be watchlist ids.
Each replica runs one `Feed` (`core.live.feed`, started by `live_replica`); every queue of a
socket is bounded: events overflow into `lagged`, replies into a close with 4408. The
messages are pydantic models in `core.live.protocol`, written down in
docs/ws-protocol.schema.json; tickets and key re-checks are in `ws_keys`.
"""

import asyncio
import contextlib
import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from core.live import protocol
from core.live.feed import Client, Feed
from core.live.protocol import (
    CLOSE_BAD_QUERY,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_READING,
    CLOSE_NOT_READY,
    CLOSE_RESTART,
    CLOSE_TOO_BIG,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHORIZED,
    MAX_MESSAGE,
    BadMessage,
    ListSubscriptions,
    Ping,
    Rule,
    Subscribe,
    Unsubscribe,
)
from core.storage import live as live_store
from core.storage.api_keys import KeyInfo
from serve_app import metrics
from serve_app.auth import authenticate, client_host, presented_key, require
from serve_app.context import AppContext, Ctx, context
from serve_app.errors import KEYED, WITH_BODY, ApiError, database_error, error_responses
from serve_app.live_replica import make_feed, on_replica_start, on_replica_stop, ready
from serve_app.ws_keys import TICKET_TTL_S, issue_ticket, redeem_ticket

__all__ = [
    "CLOSE_NOT_READING", "CLOSE_RESTART", "CLOSE_TOO_BIG", "CLOSE_UNAUTHORIZED", "MAX_MESSAGE",
    "Client", "Feed", "make_feed", "on_replica_start", "on_replica_stop", "router",
]  # fmt: skip

log = logging.getLogger("stockray.serve.live")
router = APIRouter()

HEARTBEAT_S = 15.0
AHEAD_WAIT_S = 1.0  # a resume id a little ahead of this replica: the feed catches up
CLOSE_WAIT_S = 10.0  # how long a close frame may wait behind a client that does not read


class WsTicket(BaseModel):
    """A single-use ticket for `/ws?ticket=`, valid for `expires_in_s` seconds."""

    ticket: str
    expires_in_s: int


@router.post("/api/v1/ws/ticket", tags=["live"], responses=error_responses(*KEYED, *WITH_BODY))
async def ws_ticket(ctx: Ctx, key: Annotated[KeyInfo, Depends(require("read"))]) -> WsTicket:
    """A ticket that opens one `/ws` socket as this key, so the key stays out of the URL."""
    return WsTicket(ticket=await issue_ticket(ctx, key.id), expires_in_s=TICKET_TTL_S)


# -- the endpoint ---------------------------------------------------------------------------


@router.websocket("/ws")
async def live_events(websocket: WebSocket) -> None:
    """Live events for the caller's subscriptions; see the module docstring for the protocol."""
    ctx = context(websocket)  # the dependency reads only `.app.state`, which sockets have
    await websocket.accept()
    try:
        await _serve(websocket, ctx)
    except Exception as exc:  # the database is down or its pool exhausted: "retry shortly"
        answer = database_error(exc)
        if answer is None or answer.status != 503:
            raise
        with contextlib.suppress(Exception):
            await websocket.close(CLOSE_NOT_READY, "the database did not answer; retry shortly")


async def _serve(websocket: WebSocket, ctx: AppContext) -> None:
    key = await _authenticate(websocket, ctx)
    if key is None:
        return
    try:
        resume_from = _int_param(websocket, "last_event_id", 0, None)
        heartbeat_s = _int_param(websocket, "heartbeat_s", 1, 300) or HEARTBEAT_S
    except BadMessage as exc:
        await websocket.close(CLOSE_BAD_QUERY, str(exc))
        return
    feed: Feed | None = ctx.live
    if feed is None or not await ready(feed):
        await websocket.close(CLOSE_NOT_READY, "live events are not ready; retry shortly")
        return
    if not feed.admit(key.id):
        limit = ctx.settings.ws_max_sockets_per_key
        await websocket.close(CLOSE_TOO_MANY, f"this key has {limit} sockets open here")
        return
    try:
        client = Client(key.id, float(heartbeat_s))
        await _connect(websocket, client, ctx, feed, resume_from)
    finally:
        feed.release(key.id)


async def _connect(
    websocket: WebSocket, client: Client, ctx: AppContext, feed: Feed, resume_from: int | None
) -> None:
    stored = await live_store.key_rules(await ctx.pool(), client.key_id, ctx.settings.ws_max_rules)
    client.rules = dict.fromkeys(Rule(r.instruments, r.events) for r in stored)
    if client.rules or not resume_from:
        feed.register(client, resume_from)
    else:  # nothing to match yet: replay once the first subscribe says what is wanted
        feed.register(client, None)
        client.deferred_resume = resume_from
    metrics.ws_connections(+1)
    client.say(protocol.hello(set(client.rules), feed.replica))
    max_rules = ctx.settings.ws_max_rules
    tasks = [
        asyncio.create_task(_write(websocket, client, feed)),
        asyncio.create_task(_read(websocket, client, feed, max_rules)),
        asyncio.create_task(client.closing.wait()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if client.close_code is not None:  # the writer may be stuck behind a full socket
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    websocket.close(client.close_code, client.close_reason), CLOSE_WAIT_S
                )
    finally:
        feed.unregister(client)
        metrics.ws_connections(-1)
        for task in tasks:
            task.cancel()


async def _authenticate(websocket: WebSocket, ctx: AppContext) -> KeyInfo | None:
    ticket = websocket.query_params.get("ticket")
    presented = websocket.query_params.get("key") or presented_key(websocket)
    if ticket is None and not presented:
        await websocket.close(CLOSE_UNAUTHORIZED, "a ticket or an API key is required")
        return None
    try:  # the handshake is limited like any request, failed attempts included
        if ticket is not None:
            key = await _redeem(ctx, ticket, client_host(websocket))
        else:
            key = await authenticate(presented, ctx, client_host(websocket))
    except ApiError as err:
        code = CLOSE_TOO_MANY if err.status == 429 else CLOSE_UNAUTHORIZED
        await websocket.close(code, err.message[:120])
        return None
    if not key.allows("read"):
        await websocket.close(CLOSE_FORBIDDEN, f"this key's scope {key.scope!r} cannot read")
        return None
    return key


async def _redeem(ctx: AppContext, ticket: str, client: str) -> KeyInfo:
    buckets = [f"addr:{client}"]
    if ctx.auth_failures.held(buckets) > 0:
        raise ApiError(429, "too_many_failures", "too many failed attempts; try again later")
    key = await redeem_ticket(ctx, ticket)
    if key is None:
        await ctx.auth_failures.failed(buckets)
        raise ApiError(401, "unauthorized", "the ticket is invalid, spent or expired")
    if await ctx.limits.check(str(key.id)) > 0:
        raise ApiError(429, "rate_limited", "this key is over its requests per minute")
    return key


def _int_param(websocket: WebSocket, name: str, low: int, high: int | None) -> int | None:
    text = websocket.query_params.get(name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise BadMessage(f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        raise BadMessage(f"{name} must be between {low} and {high or 'any'}")
    return value


# -- one connection: a writer draining its queues, a reader taking its messages ------------


async def _write(websocket: WebSocket, client: Client, feed: Feed) -> None:
    while client.close_code is None:
        if client.control:
            await websocket.send_text(client.control.popleft().text())
        elif client.resume_from is not None:
            await _replay(websocket, client, feed)
        elif client.lagged_at is not None:
            client.cursor, client.lagged_at = max(client.cursor, client.lagged_at), None
            await websocket.send_text(protocol.lagged("overflow", client.cursor).text())
        elif client.queue:
            event_id, text = client.queue.popleft()
            if event_id > client.cursor:
                client.cursor = event_id
                await websocket.send_text(text)
        else:
            client.wake.clear()
            try:
                await asyncio.wait_for(client.wake.wait(), client.heartbeat_s)
            except TimeoutError:
                await websocket.send_text(protocol.heartbeat(client.cursor).text())


async def _replay(websocket: WebSocket, client: Client, feed: Feed) -> None:
    after, client.resume_from = client.resume_from, None
    deadline = time.monotonic() + AHEAD_WAIT_S
    while after > feed.last_id and time.monotonic() < deadline:
        await asyncio.sleep(0.02)  # another replica saw it first; this one is a moment behind
    if after > feed.last_id:
        feed.replay(client, feed.last_id)
        await websocket.send_text(protocol.lagged("unknown_id", client.cursor).text())
        return
    missed = feed.replay(client, after)
    if missed is None:
        feed.replay(client, feed.last_id)
        await websocket.send_text(protocol.lagged("too_old", client.cursor).text())
        return
    for event_id, text in missed:
        if client.resume_from is not None or client.close_code is not None:
            return  # a newer resume or a close overrides the rest of this one
        client.cursor = event_id
        await websocket.send_text(text)


async def _read(websocket: WebSocket, client: Client, feed: Feed, max_rules: int) -> None:
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        if protocol.too_big(message):  # a server without our frame limit read it
            client.close(CLOSE_TOO_BIG, f"messages are at most {MAX_MESSAGE} bytes")
            return
        try:
            await _handle(client, feed, protocol.parse(message.get("text")), max_rules)
        except BadMessage as exc:
            client.say(exc.reply())
        await asyncio.sleep(0)  # a burst of buffered messages must not hold the event loop


async def _handle(
    client: Client,
    feed: Feed,
    command: Subscribe | Unsubscribe | ListSubscriptions | Ping,
    max_rules: int,
) -> None:
    if isinstance(command, Ping):
        client.say(protocol.pong(client.cursor))
        return
    if isinstance(command, ListSubscriptions):
        client.say(protocol.listing(list(client.rules), command.offset))
        return
    rule = Rule.of(command)
    if isinstance(command, Unsubscribe):
        if rule not in client.rules:
            raise BadMessage(
                "no such subscription (unsubscribe names one exactly as subscribed)",
                "unknown_subscription",
            )
        del client.rules[rule]
        feed.reindex(client)
        client.say(protocol.changed("unsubscribe", rule, len(client.rules)))
        return
    added = None
    if rule not in client.rules:
        await _check_new(feed, client, rule, max_rules)
        client.rules[rule] = None
        feed.reindex(client)
        added = rule
    client.say(protocol.changed("subscribe", added, len(client.rules)))
    resume = command.last_event_id
    if resume is None:
        resume, client.deferred_resume = client.deferred_resume, None
    if resume is not None:
        client.resume_from = resume
        client.wake.set()


async def _check_new(feed: Feed, client: Client, rule: Rule, max_rules: int) -> None:
    if len(client.rules) >= max_rules:
        raise BadMessage(
            f"this socket holds {max_rules} subscriptions, the most it may; "
            "unsubscribe or widen one instead",
            "too_many_subscriptions",
            limit=max_rules,
        )
    unknown = await feed.unknown_instruments(rule.instruments)
    if unknown:
        raise BadMessage(
            f"not on the watchlist: {', '.join(unknown)}", "unknown_instruments", unknown=unknown
        )

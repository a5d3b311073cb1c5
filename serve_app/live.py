"""WebSocket `/ws`: live events, filtered per connection, resumable by `last_event_id`.

    connect  /ws?key=KEY[&last_event_id=N][&heartbeat_s=15]  (or Authorization / X-API-Key)
    client   {"type": "subscribe", "instruments": [...], "events": [...], "last_event_id": N}
             {"type": "unsubscribe", "instruments": [...], "events": [...]}   {"type": "ping"}
    server   {"type": "bar", "id": N, "instrument": "AAPL", "at": ..., "payload": {...}}
             {"type": "subscribed", "subscriptions": [...]}   {"type": "pong"}
             {"type": "heartbeat", "last_event_id": N, "at": ...}  after heartbeat_s of silence
             {"type": "lagged", "reason": ..., "last_event_id": M}  events up to M were
                 skipped: refetch state from the API (or reconnect with an older id)
             {"type": "error", "code": ..., "message": ...}  a bad message; the socket stays
    close    4401 no/bad key, 4403 scope, 4400 bad query, 1013 not ready, 1012 replica stopping

A connection starts with its key's stored subscriptions; a subscription is an (instruments,
events) pair, empty meaning all, and an event goes out if any subscription matches it
(events without an instrument match every instrument). Each replica runs one `Feed`: it
follows the event hub (Redis pub/sub + stream, or the hub actor's long poll), keeps the last
`KEEP` events for replay and hands each event to the matching connections' bounded queues.
A full queue is emptied and answered with `lagged`; nothing waits on a slow client.
"""

# No `from __future__ import annotations`: FastAPI resolves the endpoint's annotations on
# the replica, where cloudpickle keeps only the globals the code names (see auth.py).
import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from actors.events import KEEP, KINDS, dumps
from core.storage.api_keys import KeyInfo
from serve_app import metrics
from serve_app.auth import authenticate, client_host, presented_key
from serve_app.context import AppContext, context
from serve_app.errors import ApiError

log = logging.getLogger("stockray.serve.live")
router = APIRouter()

QUEUE_MAX = 1_000  # events waiting for one client before it is told it lagged (shared texts)
HEARTBEAT_S = 15.0
READY_TIMEOUT_S = 10.0
AHEAD_WAIT_S = 1.0  # a resume id a little ahead of this replica: the feed catches up
MAX_MESSAGE = 64 * 1024
MAX_ITEMS = 500
CLOSE_RESTART, CLOSE_NOT_READY = 1012, 1013
CLOSE_BAD_QUERY, CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN = 4400, 4401, 4403
CLOSE_TOO_MANY = 4429  # the key's request rate, or too many failed key attempts


class BadMessage(ValueError):
    """A client message this protocol cannot take; answered with an `error` message."""


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


class Client:
    """One socket's subscriptions, bounded queue and position in the event sequence."""

    def __init__(self, websocket: WebSocket, heartbeat_s: float) -> None:
        self.websocket = websocket
        self.heartbeat_s = heartbeat_s
        self.rules: set[Rule] = set()
        self.queue: deque[tuple[int, str]] = deque()
        self.control: deque[dict[str, Any]] = deque()
        self.wake = asyncio.Event()
        self.cursor = 0  # the last event id this client was sent (or told it skipped)
        self.last_queued = 0
        self.lagged_at: int | None = None
        self.resume_from: int | None = None
        self.deferred_resume: int | None = None  # ?last_event_id= before any subscription
        self.close_code: int | None = None
        self.indexed: list[str] = []  # the instruments the feed files this client under

    def wants(self, event: dict[str, Any]) -> bool:
        """True when any subscription matches `event`."""
        return any(rule.matches(event) for rule in self.rules)

    def push(self, event_id: int, text: str) -> None:
        """Queue an event; on overflow drop the backlog and remember to say `lagged`."""
        if event_id <= self.last_queued:
            return  # reached through two index entries
        self.last_queued = event_id
        if len(self.queue) >= QUEUE_MAX:
            self.queue.clear()
            self.lagged_at = event_id
        else:
            self.queue.append((event_id, text))
        self.wake.set()

    def say(self, message: dict[str, Any]) -> None:
        """Queue a control message (sent before pending events)."""
        self.control.append(message)
        self.wake.set()

    def close(self, code: int) -> None:
        """Ask the writer to close the socket with `code`."""
        self.close_code = code
        self.wake.set()


class Feed:
    """This replica's copy of the event sequence: the last `KEEP` events, fanned out."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.ring: deque[tuple[int, dict[str, Any], str]] = deque(maxlen=KEEP)
        self.floor = 0  # every event with a higher id is in the ring or still to come
        self.last_id = 0
        self.ready = asyncio.Event()
        self.clients: set[Client] = set()
        self._by_instrument: dict[str, set[Client]] = {}
        self._any_instrument: set[Client] = set()
        self._tasks: list[asyncio.Task] = []
        self.replica = _replica_tag()

    # -- following the hub ---------------------------------------------------------------

    def seed(self, floor: int, events: list[dict[str, Any]]) -> None:
        """Start from the hub's buffer (no fan-out: nobody is connected yet)."""
        self.ring.clear()
        self.floor = self.last_id = floor
        for event in events:
            if event["id"] == self.last_id + 1:
                self.ring.append((event["id"], event, dumps(event)))
                self.last_id = event["id"]
        self.ready.set()

    def accept(self, floor: int, events: list[dict[str, Any]]) -> None:
        """New events from the hub, oldest first; `floor` as the hub reported it."""
        if floor > self.last_id:
            self._discontinuity(floor)
        for event in events:
            event_id = event["id"]
            if event_id <= self.last_id:
                continue
            if event_id != self.last_id + 1:
                self._discontinuity(event_id - 1)
            text = dumps(event)
            self.ring.append((event_id, event, text))
            self.last_id = event_id
            try:
                self.ctx.on_event(event)
            except Exception:  # a hook's bug must not stop the fan-out
                log.exception("event hook failed for event %s", event_id)
            if event["type"] in KINDS:
                self._dispatch(event, text)

    def _discontinuity(self, floor: int) -> None:
        # The hub lost events we never saw (restart, Redis flush): say so to every client.
        if self.last_id:  # (at the very start the sequence just begins)
            log.warning("event sequence jumped from %s to %s", self.last_id, floor + 1)
        self.ring.clear()
        self.floor = self.last_id = floor
        for client in self.clients:
            client.queue.clear()
            client.lagged_at = floor
            client.last_queued = floor
            client.wake.set()

    def _dispatch(self, event: dict[str, Any], text: str) -> None:
        instrument = event.get("instrument")
        if instrument is None:
            targets: Any = self.clients
        else:
            named = self._by_instrument.get(instrument)
            targets = self._any_instrument if not named else (named | self._any_instrument)
        for client in targets:
            if client.wants(event):
                client.push(event["id"], text)

    # -- clients --------------------------------------------------------------------------

    def register(self, client: Client, resume_from: int | None) -> None:
        """Start delivering to `client`: live from now, or replayed from `resume_from`."""
        client.cursor = client.last_queued = self.last_id
        client.resume_from = resume_from
        self.clients.add(client)
        self.reindex(client)

    def unregister(self, client: Client) -> None:
        """Stop delivering to `client`."""
        self.clients.discard(client)
        self._unindex(client)

    def reindex(self, client: Client) -> None:
        """File `client` under the instruments its subscriptions name (or under all)."""
        self._unindex(client)
        if any(not rule.instruments for rule in client.rules):
            self._any_instrument.add(client)
            return
        client.indexed = sorted({i for rule in client.rules for i in rule.instruments})
        for instrument in client.indexed:
            self._by_instrument.setdefault(instrument, set()).add(client)

    def _unindex(self, client: Client) -> None:
        self._any_instrument.discard(client)
        for instrument in client.indexed:
            members = self._by_instrument.get(instrument)
            if members is not None:
                members.discard(client)
                if not members:
                    del self._by_instrument[instrument]
        client.indexed = []

    def replay(self, client: Client, after: int) -> list[tuple[int, str]] | None:
        """What `client` missed after `after`, or None if the ring no longer holds it.

        Runs without awaiting: the queue is reset in the same step, so what the feed pushes
        next follows the replay with no gap and no repeat.
        """
        if after < self.floor:
            return None
        start = after - self.floor  # ids in the ring are consecutive from floor + 1
        missed = [
            (i, text) for i, event, text in islice(self.ring, start, None) if client.wants(event)
        ]
        client.queue.clear()
        client.lagged_at = None
        client.cursor = after
        client.last_queued = self.last_id
        return missed

    def close_all(self, code: int) -> None:
        """Close every socket of this replica with `code` (e.g. 1012 on shutdown)."""
        for client in list(self.clients):
            client.close(code)

    async def stop(self) -> None:
        """Stop following the hub."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()


# -- the endpoint ---------------------------------------------------------------------------


@router.websocket("/ws")
async def live_events(websocket: WebSocket) -> None:
    """Live events for the caller's subscriptions; see the module docstring for the protocol."""
    ctx = context(websocket)  # the dependency reads only `.app.state`, which sockets have
    await websocket.accept()
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
    if feed is None or not await _ready(feed):
        await websocket.close(CLOSE_NOT_READY, "live events are not ready; retry shortly")
        return
    client = Client(websocket, float(heartbeat_s))
    client.rules = await _stored_rules(ctx, key)
    if client.rules or not resume_from:
        feed.register(client, resume_from)
    else:  # nothing to match yet: replay once the first subscribe says what is wanted
        feed.register(client, None)
        client.deferred_resume = resume_from
    metrics.ws_connections(+1)
    client.say(_subscribed(client, feed))
    tasks = [asyncio.create_task(_write(client, feed)), asyncio.create_task(_read(client, feed))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        feed.unregister(client)
        metrics.ws_connections(-1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _authenticate(websocket: WebSocket, ctx: AppContext) -> KeyInfo | None:
    presented = websocket.query_params.get("key") or presented_key(websocket)
    if not presented:
        await websocket.close(CLOSE_UNAUTHORIZED, "an API key is required (?key= or a header)")
        return None
    try:  # the handshake is limited like any request, failed attempts included
        key = await authenticate(presented, ctx, client_host(websocket))
    except ApiError as err:
        code = CLOSE_TOO_MANY if err.status == 429 else CLOSE_UNAUTHORIZED
        await websocket.close(code, err.message[:120])
        return None
    if not key.allows("read"):
        await websocket.close(CLOSE_FORBIDDEN, f"this key's scope {key.scope!r} cannot read")
        return None
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


async def _ready(feed: Feed) -> bool:
    try:
        await asyncio.wait_for(feed.ready.wait(), READY_TIMEOUT_S)
    except TimeoutError:
        return False
    return True


async def _stored_rules(ctx: AppContext, key: KeyInfo) -> set[Rule]:
    pool = await ctx.pool()
    rows = await pool.fetch(
        "SELECT instruments, events FROM subscriptions WHERE key_id = $1", key.id
    )
    return {Rule(frozenset(r["instruments"]), frozenset(r["events"])) for r in rows}


def _subscribed(client: Client, feed: Feed) -> dict[str, Any]:
    rules = sorted((r.as_dict() for r in client.rules), key=lambda r: json.dumps(r))
    return {"type": "subscribed", "subscriptions": rules, "replica": feed.replica}


# -- one connection: a writer draining its queue, a reader taking its messages -------------


async def _write(client: Client, feed: Feed) -> None:
    websocket = client.websocket
    while True:
        if client.close_code is not None:
            await websocket.close(client.close_code, "the server is restarting; reconnect")
            return
        if client.control:
            await websocket.send_text(dumps(client.control.popleft()))
        elif client.resume_from is not None:
            await _replay(client, feed)
        elif client.lagged_at is not None:
            client.cursor, client.lagged_at = max(client.cursor, client.lagged_at), None
            await websocket.send_text(dumps(_lagged("overflow", client.cursor)))
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
                beat = {"type": "heartbeat", "last_event_id": client.cursor, "at": time.time()}
                await websocket.send_text(dumps(beat))


async def _replay(client: Client, feed: Feed) -> None:
    after, client.resume_from = client.resume_from, None
    deadline = time.monotonic() + AHEAD_WAIT_S
    while after > feed.last_id and time.monotonic() < deadline:
        await asyncio.sleep(0.02)  # another replica saw it first; this one is a moment behind
    if after > feed.last_id:
        feed.replay(client, feed.last_id)
        await client.websocket.send_text(dumps(_lagged("unknown_id", client.cursor)))
        return
    missed = feed.replay(client, after)
    if missed is None:
        feed.replay(client, feed.last_id)
        await client.websocket.send_text(dumps(_lagged("too_old", client.cursor)))
        return
    for event_id, text in missed:
        if client.resume_from is not None or client.close_code is not None:
            return  # a newer resume or a close overrides the rest of this one
        client.cursor = event_id
        await client.websocket.send_text(text)


def _lagged(reason: str, last_event_id: int) -> dict[str, Any]:
    return {
        "type": "lagged",
        "reason": reason,
        "last_event_id": last_event_id,
        "message": "events were skipped: refetch state from the API, or reconnect with "
        "an older last_event_id while the replay buffer still holds it",
    }


async def _read(client: Client, feed: Feed) -> None:
    websocket = client.websocket
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        try:
            _handle(client, feed, message.get("text"))
        except BadMessage as exc:
            client.say({"type": "error", "code": "invalid_message", "message": str(exc)})


def _handle(client: Client, feed: Feed, text: str | None) -> None:
    if text is None or len(text) > MAX_MESSAGE:
        raise BadMessage(f"send JSON text messages of at most {MAX_MESSAGE} bytes")
    try:
        message = json.loads(text)
    except ValueError:
        raise BadMessage("not JSON") from None
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "ping":
        client.say({"type": "pong", "last_event_id": client.cursor, "at": time.time()})
        return
    if kind not in ("subscribe", "unsubscribe"):
        raise BadMessage('"type" must be subscribe, unsubscribe or ping')
    rule = Rule(_names(message, "instruments", None), _names(message, "events", KINDS))
    resume = message.get("last_event_id")
    if resume is not None and (kind != "subscribe" or type(resume) is not int or resume < 0):
        raise BadMessage("last_event_id goes with subscribe, as a non-negative integer")
    if kind == "subscribe":
        client.rules.add(rule)
    elif rule in client.rules:
        client.rules.discard(rule)
    else:
        raise BadMessage("no such subscription (unsubscribe names one exactly as subscribed)")
    feed.reindex(client)
    client.say(_subscribed(client, feed))
    if resume is None and kind == "subscribe":
        resume, client.deferred_resume = client.deferred_resume, None
    if resume is not None:
        client.resume_from = resume
        client.wake.set()


def _names(message: dict[str, Any], field: str, allowed: tuple[str, ...] | None) -> frozenset:
    value = message.get(field) or []
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise BadMessage(f"{field} must be a list of at most {MAX_ITEMS} names")
    for name in value:
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise BadMessage(f"{field} holds names (1-64 characters)")
        if allowed is not None and name not in allowed:
            raise BadMessage(f"unknown event type {name!r}; known: {', '.join(allowed)}")
    return frozenset(value)


# -- the replica's lifecycle ---------------------------------------------------------------


async def on_replica_start(ctx: AppContext) -> None:
    """Start this replica's event listener (and the watch that closes sockets on drain)."""
    from actors.events import follow

    if ctx.live is not None:
        return
    feed = ctx.live = Feed(ctx)
    feed._tasks.append(asyncio.create_task(follow(ctx.settings, feed)))
    draining = _serve_draining()
    if draining is not None:
        feed._tasks.append(asyncio.create_task(_close_on_drain(feed, draining)))
    await _ready(feed)


async def on_replica_stop(ctx: AppContext) -> None:
    """Close this replica's sockets with a close frame and stop its listener."""
    feed: Feed | None = ctx.live
    if feed is None:
        return
    feed.close_all(CLOSE_RESTART)
    await _until_closed(feed, 5.0)
    await feed.stop()
    ctx.live = None


async def _until_closed(feed: Feed, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while feed.clients and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def _replica_tag() -> str | None:
    try:
        from ray import serve

        return serve.get_replica_context().replica_tag
    except Exception:  # not in a Serve replica (tests, plain uvicorn)
        return None


def _serve_draining() -> Callable[[], bool] | None:
    """A probe for "Serve is stopping this replica", or None outside a Serve replica.

    Serve waits for open requests before it calls `__del__`, and a socket stays open until
    someone closes it; so sockets are closed when the drain starts. Serve 2.60 exposes the
    drain only as the replica's `_shutting_down` flag, read here (and nowhere else).
    """
    try:
        from ray._private.worker import global_worker

        actor = global_worker.actors.get(global_worker.actor_id)
    except Exception:  # not in a Ray worker
        return None
    replica = getattr(actor, "_replica_impl", None)
    if replica is None or not hasattr(replica, "_shutting_down"):
        return None
    return lambda: bool(replica._shutting_down)


async def _close_on_drain(feed: Feed, draining: Callable[[], bool]) -> None:
    while not draining():
        await asyncio.sleep(0.25)
    log.info("replica draining: closing %d sockets with %d", len(feed.clients), CLOSE_RESTART)
    while True:  # keep closing: a socket may still open while the proxy learns of the drain
        feed.close_all(CLOSE_RESTART)
        await asyncio.sleep(0.25)

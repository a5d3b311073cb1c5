"""One replica's fan-out: the `Feed` follows the event hub, `Client` is one socket's state.

Neither touches a socket or Ray: `actors.events.follow` feeds the `Feed`, and
`serve_app.live` drains each `Client`'s queues into its socket. The feed keeps the last
`KEEP` events for replay and hands each event to the matching clients' bounded queues; a
full queue is emptied and answered with `lagged`, so nothing waits on a slow client.
Control replies have their own bounded queue: a client that lets it fill is not reading,
and is closed (`CLOSE_NOT_READING`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from itertools import islice
from typing import Any

from core.events import KEEP, KINDS, Event, dumps, parse_event
from core.live import protocol
from core.live.protocol import Rule, ServerReply

log = logging.getLogger("stockray.serve.live")


class Client:
    """One socket's subscriptions, bounded queues and position in the event sequence."""

    def __init__(self, key_id: uuid.UUID, heartbeat_s: float) -> None:
        self.key_id = key_id
        self.heartbeat_s = heartbeat_s
        self.rules: dict[Rule, None] = {}  # insertion-ordered, so `list` pages are stable
        self.queue: deque[tuple[int, str]] = deque()
        self.control: deque[ServerReply] = deque()
        self.wake = asyncio.Event()
        self.closing = asyncio.Event()
        self.cursor = 0  # the last event id this client was sent (or told it skipped)
        self.last_queued = 0
        self.lagged_at: int | None = None
        self.resume_from: int | None = None
        self.deferred_resume: int | None = None  # ?last_event_id= before any subscription
        self.close_code: int | None = None
        self.close_reason = ""
        self.indexed: list[str] = []  # the instruments the feed files this client under

    def wants(self, event: Event) -> bool:
        """True when any subscription matches `event`."""
        return any(rule.matches(event) for rule in self.rules)

    def push(self, event_id: int, text: str) -> None:
        """Queue an event; on overflow drop the backlog and remember to say `lagged`."""
        if event_id <= self.last_queued:
            return  # reached through two index entries
        self.last_queued = event_id
        if len(self.queue) >= protocol.QUEUE_MAX:
            self.queue.clear()
            self.lagged_at = event_id
        else:
            self.queue.append((event_id, text))
        self.wake.set()

    def say(self, message: ServerReply) -> None:
        """Queue a control message (sent before pending events); close if they pile up."""
        if len(self.control) >= protocol.CONTROL_MAX:
            self.close(protocol.CLOSE_NOT_READING, "client not reading")
            return
        self.control.append(message)
        self.wake.set()

    def close(self, code: int, reason: str) -> None:
        """Close the socket with `code` (the first reason given wins)."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self.closing.set()
        self.wake.set()


class Feed:
    """This replica's copy of the event sequence: the last `KEEP` events, fanned out."""

    def __init__(
        self,
        known: Callable[[list[str]], Awaitable[set[str]]],
        *,
        replica: str | None = None,
        max_sockets_per_key: int = 0,
        on_event: Callable[[dict[str, Any]], None] = lambda event: None,
        on_seed: Callable[[list[dict[str, Any]]], None] = lambda events: None,
    ) -> None:
        """`known(ids)` answers which ids are watchlist instruments; `on_event` sees each new
        event (as the hub sent it), `on_seed` the buffer the feed starts from."""
        self._known = known
        self.max_sockets_per_key = max_sockets_per_key  # 0: no limit
        self._on_event = on_event
        self._on_seed = on_seed
        self.ring: deque[tuple[int, Event, str]] = deque(maxlen=KEEP)
        self.floor = 0  # every event with a higher id is in the ring or still to come
        self.last_id = 0
        self.ready = asyncio.Event()
        self.clients: set[Client] = set()
        self._by_instrument: dict[str, set[Client]] = {}
        self._any_instrument: set[Client] = set()
        self.tasks: list[asyncio.Task] = []  # what follows the hub for it, stopped by `stop`
        self.replica = replica
        self.sockets_by_key: dict[uuid.UUID, int] = {}
        self.instruments: set[str] = set()  # watchlist ids seen in the database

    # -- following the hub ---------------------------------------------------------------

    def seed(self, floor: int, events: list[dict[str, Any]]) -> None:
        """Start from the hub's buffer (no fan-out: nobody is connected yet)."""
        self.ring.clear()
        self.floor = self.last_id = floor
        for event in events:
            if event["id"] == self.last_id + 1:
                self.ring.append((event["id"], parse_event(event), dumps(event)))
                self.last_id = event["id"]
        self._on_seed(events)  # e.g. a run's progress, for a page opening mid-run
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
            text = dumps(event)  # sent as the hub gave it
            typed = parse_event(event)
            self.ring.append((event_id, typed, text))
            self.last_id = event_id
            try:
                self._on_event(event)
            except Exception:  # a hook's bug must not stop the fan-out
                log.exception("event hook failed for event %s", event_id)
            if typed.type in KINDS:
                self._dispatch(typed, text)

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

    def _dispatch(self, event: Event, text: str) -> None:
        instrument = event.instrument
        if instrument is None:
            targets: Any = self.clients
        else:
            named = self._by_instrument.get(instrument)
            targets = self._any_instrument if not named else (named | self._any_instrument)
        for client in targets:
            if client.wants(event):
                client.push(event.id, text)

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
        if not client.rules:
            return
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

    def close_all(self, code: int, reason: str) -> None:
        """Close every socket of this replica with `code` (e.g. 1012 on shutdown)."""
        for client in list(self.clients):
            client.close(code, reason)

    def admit(self, key_id: uuid.UUID) -> bool:
        """Count one more socket for `key_id`; False (nothing counted) when at the limit."""
        limit = self.max_sockets_per_key
        open_now = self.sockets_by_key.get(key_id, 0)
        if limit and open_now >= limit:
            return False
        self.sockets_by_key[key_id] = open_now + 1
        return True

    def release(self, key_id: uuid.UUID) -> None:
        """Uncount a socket that `admit` counted."""
        left = self.sockets_by_key.get(key_id, 0) - 1
        if left > 0:
            self.sockets_by_key[key_id] = left
        else:
            self.sockets_by_key.pop(key_id, None)

    async def unknown_instruments(self, names: frozenset[str]) -> list[str]:
        """The names that are not watchlist instrument ids (asks the database on a miss)."""
        missing = names - self.instruments
        if not missing:
            return []
        found = await self._known(sorted(missing))
        self.instruments |= found
        return sorted(missing - found)

    async def stop(self) -> None:
        """Stop following the hub."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task
        self.tasks.clear()

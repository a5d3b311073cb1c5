"""A replica's live side: start the `Feed`, keep open sockets' keys checked, close on drain.

The feed itself (`core.live.feed`) knows nothing of the replica: `make_feed` hands it the
context's hooks, its database reads and its limits.

`serve_app.live` re-exports `on_replica_start` and `on_replica_stop`, which the Serve
deployment (and tests) call around the replica's life.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from core.live.feed import Feed
from core.live.protocol import CLOSE_RESTART, CLOSE_UNAUTHORIZED, MAX_MESSAGE
from core.storage import live as live_store
from serve_app.context import AppContext
from serve_app.ws_keys import active_keys

log = logging.getLogger("stockray.serve.live")
RESTART_REASON = "the server is restarting; reconnect"
READY_TIMEOUT_S = 10.0


async def ready(feed: Feed, timeout_s: float = READY_TIMEOUT_S) -> bool:
    """Wait (up to `timeout_s`) until the feed has its starting point from the hub."""
    try:
        await asyncio.wait_for(feed.ready.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


def make_feed(ctx: AppContext, replica: str | None = None) -> Feed:
    """A feed for this replica's sockets: `ctx`'s event hooks, database and limits."""

    async def known(ids: list[str]) -> set[str]:
        return await live_store.existing_instruments(await ctx.pool(), ids)

    return Feed(
        known,
        replica=replica,
        max_sockets_per_key=ctx.settings.ws_max_sockets_per_key,
        on_event=ctx.on_event,
        on_seed=ctx.progress.seed,
    )


async def on_replica_start(ctx: AppContext) -> None:
    """Start this replica's event listener (and the watch that closes sockets on drain)."""
    from actors.events import follow

    if ctx.live is not None:
        return
    feed = ctx.live = make_feed(ctx, _replica_tag())
    feed.tasks.append(asyncio.create_task(follow(ctx.settings, feed)))
    feed.tasks.append(asyncio.create_task(_recheck_keys(ctx, feed)))
    replica = _serve_replica()
    if replica is not None and hasattr(replica, "_shutting_down"):
        draining = asyncio.create_task(_close_on_drain(feed, lambda: replica._shutting_down))
        feed.tasks.append(draining)
    if replica is not None:
        feed.tasks.append(asyncio.create_task(_limit_frames(replica, MAX_MESSAGE)))
    await ready(feed)


async def on_replica_stop(ctx: AppContext) -> None:
    """Close this replica's sockets with a close frame and stop its listener."""
    feed: Feed | None = ctx.live
    if feed is None:
        return
    feed.close_all(CLOSE_RESTART, RESTART_REASON)
    await _until_closed(feed, 5.0)
    await feed.stop()
    ctx.live = None


async def _recheck_keys(ctx: AppContext, feed: Feed) -> None:
    """Every `ws_key_recheck_s`, close the sockets of keys revoked since they connected."""
    while True:
        await asyncio.sleep(ctx.settings.ws_key_recheck_s)
        try:
            await close_revoked(ctx, feed)
        except Exception:  # the database is away: keep the sockets, try again next time
            log.warning("could not re-check the keys of open sockets", exc_info=True)


async def close_revoked(ctx: AppContext, feed: Feed) -> None:
    """Close, with 4401, the sockets whose key is revoked (read from the database)."""
    clients = list(feed.clients)
    active = await active_keys(ctx, {c.key_id for c in clients})
    for client in clients:
        if client.key_id not in active:
            client.close(CLOSE_UNAUTHORIZED, "key revoked")


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


def _serve_replica() -> Any:
    """This process's Serve replica (Serve 2.60's private `_replica_impl`), or None.

    Two of its fields are read here and nowhere else. `_shutting_down`: Serve waits for
    open requests before it calls `__del__`, and a socket stays open until someone closes
    it; so sockets are closed when the drain starts, which Serve exposes only as that flag.
    `_direct_ingress_http_server`: the replica's own uvicorn server (direct ingress behind
    HAProxy), built without a way to pass `ws_max_size`.
    """
    try:
        from ray._private.worker import global_worker

        actor = global_worker.actors.get(global_worker.actor_id)
    except Exception:  # not in a Ray worker
        return None
    return getattr(actor, "_replica_impl", None)


async def _limit_frames(replica: Any, max_size: int, timeout_s: float = 300.0) -> None:
    """Give the replica's own HTTP server our frame limit once it runs, so a larger frame is
    refused from its header (1009) instead of read: each new connection reads the setting.
    Behind Serve's Python proxy instead there is none; the replica checks each message."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        server = getattr(replica, "_direct_ingress_http_server", None)
        if server is not None:
            server.config.ws_max_size = max_size
            log.info("WebSocket frames over %d bytes are refused by the replica's server", max_size)
            return
        await asyncio.sleep(0.5)


async def _close_on_drain(feed: Feed, draining: Callable[[], bool]) -> None:
    while not draining():
        await asyncio.sleep(0.25)
    log.info("replica draining: closing %d sockets with %d", len(feed.clients), CLOSE_RESTART)
    while True:  # keep closing: a socket may still open while the proxy learns of the drain
        feed.close_all(CLOSE_RESTART, RESTART_REASON)
        await asyncio.sleep(0.25)

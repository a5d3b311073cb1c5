"""WebSocket `/ws`: live events with resume by `last_event_id` (being built)."""

from __future__ import annotations

from fastapi import APIRouter

from serve_app.context import AppContext

router = APIRouter()


async def on_replica_start(ctx: AppContext) -> None:
    """Start this replica's event listener."""


async def on_replica_stop(ctx: AppContext) -> None:
    """Close this replica's sockets with a close frame and stop its listener."""

"""The API's own metrics: HTTP requests and WebSocket connections (being built)."""

from __future__ import annotations


def ws_connections(delta: int) -> None:
    """A WebSocket opened (+1) or closed (-1) on this replica."""

"""ASGI middleware that applies a provider's faults around its real routes."""

from __future__ import annotations

import asyncio
import json
import math

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sim.faults import Decision, FaultState
from sim.providers.base import ProviderSpec, is_error, plant_key, request_key


class FaultMiddleware:
    """Decides each request's fate on arrival, then delays, replaces or corrupts the answer."""

    def __init__(self, app: ASGIApp, spec: ProviderSpec, state: FaultState) -> None:
        self.app = app
        self.spec = spec
        self.state = state
        self._wake = asyncio.Event()

    def release(self) -> None:
        """End every delay in progress now (the listener is closing: don't hold it open)."""
        self._wake.set()
        self._wake = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        decision = self.state.decide()
        buffered: list[Message] = []

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        delay = decision.latency_s + (decision.slow_s if decision.action == "serve" else 0.0)
        if delay and not await self._hold(delay, receive, buffered):
            return  # the client gave up (e.g. its timeout): nobody to answer
        key = request_key(scope) if "echo_key" in self.state.scenarios else None
        if key:
            send = self._echoing(send, key)
        if decision.action != "serve":
            response = self._fault_response(decision)
            self.state.stats.record_status(response.status_code)
            await response(scope, replay, send)
            return
        if decision.corrupt:
            await self._corrupted(scope, replay, send, decision)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.state.stats.record_status(message["status"])
            await send(message)

        await self.app(scope, replay, counting_send)

    def _echoing(self, send: Send, key: str) -> Send:
        """A `send` that puts `key` into error bodies (the echo_key scenario); other answers,
        streams included, pass through unbuffered."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def echoing_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if message["status"] < 400 and b"json" not in headers.get(b"content-type", b""):
                    await send(message)  # not an error: nothing to plant
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if is_error(start["status"], data):
                body = plant_key(body, key, self.spec)
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return echoing_send

    async def _hold(self, seconds: float, receive: Receive, buffered: list[Message]) -> bool:
        """Wait `seconds` (less if released); False when the client disconnects first."""

        async def disconnected() -> None:
            while (message := await receive())["type"] != "http.disconnect":
                buffered.append(message)  # the request body, replayed to the app later

        tasks = {
            asyncio.ensure_future(asyncio.sleep(seconds)),
            asyncio.ensure_future(self._wake.wait()),
        }
        watcher = asyncio.ensure_future(disconnected())
        done, pending = await asyncio.wait({*tasks, watcher}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return watcher not in done

    def _fault_response(self, decision: Decision) -> Response:
        if decision.action == "limited":
            limit = decision.limit
            assert limit is not None
            response = self.spec.limit_response(limit.variant)
            if limit.style == "http429":
                response.status_code = 429
                # Retry-After is whole seconds; round up so a client that obeys it is admitted.
                response.headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after_s)))
            return response
        return self.spec.error_response(decision.status)

    async def _corrupted(
        self, scope: Scope, receive: Receive, send: Send, decision: Decision
    ) -> None:
        """Run the app, then send its body made invalid (malformed) or cut short (truncated)."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        assert start is not None
        body = b"".join(chunks)
        if decision.corrupt == "malformed":
            # A NUL and stray brackets are invalid JSON both inside and outside strings.
            mid = len(body) // 2
            body = body[:mid] + b"\x00}{]" + body[mid:]
            self.state.stats.malformed += 1
        else:
            body = body[: max(1, int(len(body) * decision.cut))] if len(body) > 1 else b""
            self.state.stats.truncated += 1
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        self.state.stats.record_status(start["status"])
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body})

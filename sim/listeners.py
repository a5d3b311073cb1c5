"""One uvicorn server per port, which can be closed (connections refused) and reopened on the
same port while the process keeps running."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger("sim")


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its owner (several share a process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0 = any free port)."""
    # proto=IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted sockets; without it Nagle
    # holds each body write for the client's delayed ACK (~40 ms per keep-alive request).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class Listener:
    """An ASGI app served on a fixed host:port that can be closed and reopened."""

    def __init__(self, name: str, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.name = name
        self.app = app
        self.host = host
        self.port = port
        self._server: _QuietServer | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        """http://host:port of this listener."""
        return f"http://{self.host}:{self.port}"

    @property
    def listening(self) -> bool:
        """Whether the port accepts connections now."""
        return self._server is not None

    async def open(self) -> None:
        """Bind the port (retrying briefly if it is still held) and serve until closed."""
        if self._server is not None:
            return
        for attempt in range(50):
            try:
                sock = bind(self.host, self.port)
                break
            except OSError:
                if attempt == 49 or self.port == 0:
                    raise
                await asyncio.sleep(0.05)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            access_log=False,
            log_config=None,
            log_level="warning",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=5,
        )
        server = _QuietServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"sim-{self.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        while not server.started:
            if task.done():
                task.result()  # re-raise why it could not start
                raise RuntimeError(f"{self.name} listener exited during startup")
            await asyncio.sleep(0.005)
        self._server = server

    def close(self) -> None:
        """Stop accepting at once (new connections are refused); in-flight requests finish."""
        server, self._server = self._server, None
        if server is None:
            return
        for srv in getattr(server, "servers", []):
            srv.close()  # closes the listening socket now, not at uvicorn's next tick
        server.should_exit = True

    async def wait_closed(self) -> None:
        """Wait until every server this listener ran has shut down."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

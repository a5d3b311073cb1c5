"""`SimServer`: the simulator started from Python, in this process or as a subprocess.

    with SimServer(seed=7) as sim:  # limits="realistic": the real services' rate limits
        httpx.get(sim.urls["yahoo"] + "/v8/finance/chart/AAPL?range=1mo")
        sim.set_faults("yahoo", {"error_rate": 0.2})
        sim.set_scenarios("yahoo", {"live_row": True})
        sim.add_split("AAPL", "2026-12-03", 4)
        sim.stats()["yahoo"]["http_5xx"]

In process, the listeners run on one asyncio loop in a background thread; with
`in_process=False` they run in `python -m sim` so a benchmark's clients do not share its GIL.
Either way the fault and stats helpers go through the admin HTTP API.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from sim.faults import FaultConfig, load_fault_map, read_fault_json
from sim.limits import merged, preset
from sim.process import terminate
from sim.runtime import SimRuntime
from sim.scenarios import Scenarios, load_scenario_map
from sim.world import SimWorld

_ROOT = Path(__file__).resolve().parent.parent  # so `python -m sim` finds this package


class SimServer:
    """The local stand-in for every provider, with fault injection; see the module docstring."""

    def __init__(
        self,
        seed: int = 7,
        watchlist_path: str | Path | None = None,
        extra_symbols: int = 0,
        faults: Mapping[str, Mapping] | str | Path | None = None,
        ports: Mapping[str, int] | None = None,
        in_process: bool = True,
        host: str = "127.0.0.1",
        scenarios: Mapping[str, Mapping] | str | Path | None = None,
        limits: str = "off",
    ) -> None:
        self.seed = seed
        self.watchlist_path = watchlist_path
        self.extra_symbols = extra_symbols
        # A limits preset ("realistic": providers.yaml's windows) under the faults' own keys.
        self.faults: dict[str, FaultConfig] = load_fault_map(
            merged(preset(limits), read_fault_json(faults))
        )
        self.scenarios: dict[str, Scenarios] = load_scenario_map(scenarios)
        self.ports = dict(ports or {})
        self.in_process = in_process
        self.host = host
        self._urls: dict[str, str] | None = None
        self._admin_url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runtime: SimRuntime | None = None
        self._proc: subprocess.Popen | None = None
        self._client: httpx.Client | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> SimServer:
        """Start every listener; returns once all accept connections."""
        if self._urls is not None:
            return self
        if self.in_process:
            self._start_thread(timeout_s)
        else:
            self._start_subprocess(timeout_s)
        self._client = httpx.Client(base_url=self.admin_url, timeout=30.0)
        return self

    def stop(self) -> None:
        """Stop every listener (and the subprocess); safe to call twice."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._proc is not None:
            _terminate(self._proc)
            self._proc = None
        if self._loop is not None and self._runtime is not None:
            future = asyncio.run_coroutine_threadsafe(self._runtime.stop(), self._loop)
            future.result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            assert self._thread is not None
            self._thread.join(30)
            self._loop = self._runtime = self._thread = None
        self._urls = self._admin_url = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------

    @property
    def urls(self) -> dict[str, str]:
        """Base URL per provider: {"yahoo": "http://127.0.0.1:PORT", ...}."""
        if self._urls is None:
            raise RuntimeError("SimServer is not started")
        return dict(self._urls)

    @property
    def admin_url(self) -> str:
        """Base URL of the admin API (`/_sim/...`)."""
        if self._admin_url is None:
            raise RuntimeError("SimServer is not started")
        return self._admin_url

    # -- admin API wrappers ----------------------------------------------------------------

    def set_faults(self, provider: str, faults: Mapping[str, Any]) -> dict:
        """Replace `provider`'s faults (schema in sim.faults); returns them as installed."""
        return self._admin("PUT", f"/_sim/faults/{provider}", json=dict(faults))

    def clear_faults(self, provider: str | None = None) -> dict:
        """Remove the faults of `provider` (of every provider when None)."""
        return self._admin("DELETE", f"/_sim/faults/{provider}" if provider else "/_sim/faults")

    def set_scenarios(self, provider: str, scenarios: Mapping[str, Any]) -> dict:
        """Replace `provider`'s scenarios (schema in sim.scenarios); returns them as installed."""
        return self._admin("PUT", f"/_sim/scenarios/{provider}", json=dict(scenarios))

    def clear_scenarios(self, provider: str | None = None) -> dict:
        """Switch off the scenarios of `provider` (of every provider when None)."""
        path = f"/_sim/scenarios/{provider}" if provider else "/_sim/scenarios"
        return self._admin("DELETE", path)

    def add_split(
        self, instrument: str, date: str, numerator: float, denominator: float = 1.0
    ) -> list[dict]:
        """Inject a split of `instrument` effective on `date` (ISO); returns the injected ones."""
        body = {
            "instrument": instrument,
            "date": date,
            "numerator": numerator,
            "denominator": denominator,
        }
        return self._admin("POST", "/_sim/splits", json=body)["splits"]

    def clear_splits(self) -> list[dict]:
        """Drop every injected split (prices return to the seed's own)."""
        return self._admin("DELETE", "/_sim/splits")["splits"]

    def stats(self) -> dict[str, dict]:
        """Counters per provider (requests, admitted, limited, http_5xx, refusals, ...)."""
        return self._admin("GET", "/_sim/stats")

    def reset_stats(self) -> dict[str, dict]:
        """Zero every counter."""
        return self._admin("DELETE", "/_sim/stats")

    def truth_news(self, **params: str) -> list[dict]:
        """Stories with their true sentiment (params: symbol, from, to, provider, language)."""
        return self._admin("GET", "/_sim/truth/news", params=params)["stories"]

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._client is None:
            raise RuntimeError("SimServer is not started")
        response = self._client.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ValueError(f"sim admin {method} {path}: {response.text}")
        return response.json()

    # -- runners ---------------------------------------------------------------------------

    def _start_thread(self, timeout_s: float) -> None:
        world = SimWorld.build(self.seed, self.watchlist_path, self.extra_symbols)
        runtime = SimRuntime(world, self.faults, self.ports, self.host, self.scenarios)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_run_loop, args=(loop,), name="sim-loop", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(runtime.start(), loop).result(timeout_s)
        except BaseException:
            asyncio.run_coroutine_threadsafe(runtime.stop(), loop).result(timeout_s)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout_s)
            raise
        self._loop, self._thread, self._runtime = loop, thread, runtime
        self._urls, self._admin_url = runtime.urls, runtime.admin.url

    def _start_subprocess(self, timeout_s: float) -> None:
        cmd = [
            sys.executable,
            "-m",
            "sim",
            "--seed",
            str(self.seed),
            "--host",
            self.host,
            "--extra-symbols",
            str(self.extra_symbols),
        ]
        if self.watchlist_path is not None:
            cmd += ["--watchlist", str(self.watchlist_path)]
        ports = {k: v for k, v in self.ports.items() if k != "admin"}
        if ports:
            cmd += ["--ports", ",".join(f"{k}={v}" for k, v in ports.items())]
        if "admin" in self.ports:
            cmd += ["--admin-port", str(self.ports["admin"])]
        if self.faults:
            cmd += ["--faults", json.dumps({k: v.to_dict() for k, v in self.faults.items()})]
        if self.scenarios:
            chosen = {k: v.to_dict() for k, v in self.scenarios.items()}
            cmd += ["--scenarios", json.dumps(chosen)]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
        try:
            info = json.loads(lines.get(timeout=timeout_s))
        except (queue.Empty, json.JSONDecodeError) as exc:
            proc.kill()
            proc.wait(5)
            raise RuntimeError(
                f"sim subprocess did not start (exit code {proc.returncode})"
            ) from exc
        self._proc = proc
        weakref.finalize(self, _terminate, proc)  # no orphaned sim if stop() is never called
        self._urls, self._admin_url = info["urls"], info["admin_url"]


def _terminate(proc: subprocess.Popen) -> None:
    """SIGTERM (a clean shutdown), SIGKILL if it lingers; close our end of its stdout."""
    terminate(proc, grace_s=15, kill_wait_s=5)
    if proc.stdout is not None:
        proc.stdout.close()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Run `loop` until stopped, then cancel what is left and close it."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

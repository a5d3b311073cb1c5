"""The provider simulator as a background process of the stack (`python -m sim`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import yaml

from cluster.state import SimState, StackError
from configs.settings import Settings
from sim.limits import merged, windows_faults

SIM_PROVIDERS = ("yahoo", "alphavantage", "newsapi", "dart", "llm", "rss")
SIM_KEY = "sim-demo-key"  # the sim accepts any key not starting with "bad"


def wanted(settings: Settings) -> bool:
    """Whether `up` runs the sim: asked for, or `auto` with no provider key configured."""
    return settings.sim == "on" or (settings.sim == "auto" and not settings.provider_keys)


def ports(settings: Settings) -> dict[str, int]:
    """Admin port first, then one port per provider."""
    return {"admin": settings.sim_port} | {
        name: settings.sim_port + 1 + i for i, name in enumerate(SIM_PROVIDERS)
    }


def provider_env(settings: Settings, state: SimState) -> dict[str, str]:
    """Environment pointing every data provider, and the LLM endpoints without a key of
    their own, at the sim (keys only where none is configured)."""
    env: dict[str, str] = {}
    for name, url in state.urls.items():
        if name in settings.providers.providers:
            env[f"STOCKRAY_PROVIDER_URLS__{name.upper()}"] = url
            if name not in settings.provider_keys:
                env[f"STOCKRAY_PROVIDER_KEYS__{name.upper()}"] = SIM_KEY
    if "llm" in state.urls:
        for endpoint in settings.llm.endpoints:
            if endpoint.name not in settings.llm_keys:
                env[f"STOCKRAY_LLM_URLS__{endpoint.name.upper()}"] = state.urls["llm"] + "/v1"
                env[f"STOCKRAY_LLM_KEYS__{endpoint.name.upper()}"] = SIM_KEY
    return env


def faults(settings: Settings) -> dict[str, dict]:
    """The sim's fault JSON: the models llm.yaml names (with their context windows) and, with
    STOCKRAY_SIM_LIMITS=realistic, every window of providers.yaml's `limits`."""
    out: dict[str, dict] = {
        "llm": {"models": {e.model: e.context_window for e in settings.llm.endpoints}}
    }
    if settings.sim_limits == "realistic":
        limits = {
            name: [(lim.requests, lim.per_s) for lim in cfg.limits]
            for name, cfg in settings.providers.providers.items()
        }
        out = merged(windows_faults(limits), out)
    return out


def write_watchlist(settings: Settings) -> Path:
    """The effective watchlist (watchlist.yaml plus the STOCKRAY_WATCHLIST groups) as the
    YAML the sim reads, at `<home>/sim/watchlist.yaml`; returns its path."""
    path = settings.home / "sim" / "watchlist.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(
        settings.watchlist.model_dump(mode="json"),
        Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
        allow_unicode=True,
        sort_keys=False,
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def alive(state: SimState) -> bool:
    """Whether the recorded sim answers its admin API."""
    if not state.admin_url:
        return False
    try:
        return httpx.get(f"{state.admin_url}/_sim/health", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def start(settings: Settings, timeout_s: float = 30.0) -> SimState:
    """Start the sim detached from this process; return once it prints its ready line."""
    p = ports(settings)
    log_path = settings.home / "logs" / "sim.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable, "-m", "sim",
        "--seed", "7",
        "--watchlist", str(write_watchlist(settings)),
        "--admin-port", str(p.pop("admin")),
        "--ports", ",".join(f"{n}={port}" for n, port in p.items()),
        "--faults", json.dumps(faults(settings)),
        "--scenarios", json.dumps(settings.sim_scenarios),
    ]  # fmt: skip
    with log_path.open("w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"admin_url"' in line:
                ready = json.loads(line)
                return SimState(proc.pid, ready["admin_url"], ready["urls"], started_by_up=True)
        if proc.poll() is not None:
            raise StackError(f"the simulator exited at start (log: {log_path})")
        time.sleep(0.1)
    proc.kill()
    raise StackError(f"the simulator did not start within {timeout_s:.0f}s (log: {log_path})")


def stop(state: SimState, grace_s: float = 5.0) -> None:
    """Stop the sim `up` started (checking the pid is still that sim)."""
    if state.pid is None:
        return
    try:
        proc = psutil.Process(state.pid)
        if "sim" not in proc.cmdline():
            return
        proc.terminate()
        proc.wait(grace_s)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.NoSuchProcess:
        pass

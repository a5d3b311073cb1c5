"""bench.scale's stacks and cycles: `stockray up` in a temp home (bench._chaos_stack), the
watchlist it follows, one `python -m jobs.collect` cycle measured, and the first data."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench._chaos_stack import ChaosStack, sql_rows
from bench._scale_load import first_bar
from bench._scale_measure import (
    RssSampler,
    admin_key,
    count_of,
    failure_kinds,
    ratio,
    stats_delta,
    summary_of,
)
from configs.settings import PACKAGE_CONFIG_DIR, Settings
from core.jobs import CollectRequest


def log(message: str) -> None:
    """A human progress line on stderr (stdout carries only the JSON line)."""
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def known_settings(env: dict[str, str]) -> list[str]:
    """The `STOCKRAY_*` names in `env` that configs/settings.py does not define."""
    names = {f"STOCKRAY_{name.upper()}" for name in Settings.model_fields}
    return [k for k in env if k.startswith("STOCKRAY_") and k not in names]


def quiet_configs(root: Path) -> Path:
    """A copy of the shipped config dir with every schedule disabled, so no scheduled job
    spends the providers' budget during a measured cycle."""
    target = root / "configs"
    shutil.copytree(PACKAGE_CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__py*"))
    path = target / "schedules.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    for schedule in data.get("schedules") or []:
        schedule["enabled"] = False
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


WATCHLIST_SCRIPT = """
import json
from configs.settings import load_settings
w = load_settings().watchlist
ids = list(w.groups.get("all") or [i.id for i in w.instruments])
print(json.dumps({"ids": ids, "groups": sorted(w.groups)}))
"""


def watchlist(env: dict[str, str]) -> tuple[list[str], list[str]]:
    """The watchlist's ids and group names as settings read them with `env`."""
    done = subprocess.run(
        [sys.executable, "-c", WATCHLIST_SCRIPT], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"reading the watchlist failed: {done.stderr[-1500:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["ids"], found["groups"]


def start_up(stack: ChaosStack) -> subprocess.Popen[str]:
    """`stockray up` started in its own session, so a Ctrl-C reaches it only through
    `stop_up` (once: a second one would cut its rollback short)."""
    return subprocess.Popen(
        [sys.executable, "-m", "cluster.cli", "up"],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop_up(proc: subprocess.Popen[str], wait_s: float = 180) -> None:
    """Interrupt a running `up` so it rolls back what it started (killed after `wait_s`)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)


def up(stack: ChaosStack, timeout_s: float = 900) -> tuple[float, str]:
    """`stockray up`; (seconds, an API key: the admin key it printed, else a new read key)."""
    started = time.monotonic()
    proc = start_up(stack)
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    finally:
        stop_up(proc)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"stockray up failed:\n{output[-4000:]}")
    key = admin_key(output) or stack.key("read", "bench-scale")
    return seconds, key


def sim_stats(stack: ChaosStack) -> dict[str, dict]:
    """The sim's counters per provider."""
    admin = stack.state().sim.admin_url or stack.sim_admin
    return httpx.get(f"{admin}/_sim/stats", timeout=30).json()


PG_CLIENTS = "SELECT count(*) - 1 AS n FROM pg_stat_activity WHERE backend_type = 'client backend'"


def pg_connections(dsn: str) -> int:
    """Client connections to Postgres now, this one not counted (0 when it cannot tell)."""
    try:
        return int(asyncio.run(sql_rows(dsn, PG_CLIENTS))[0]["n"])
    except Exception:  # a count is not worth failing a cycle for
        return 0


class _Lines:
    """A process's output lines, read in a thread (the process never blocks on a pipe)."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        """Everything read so far (waits briefly for the end of the stream)."""
        self._thread.join(10)
        return "\n".join(self.lines)


def _plan(summary: dict[str, Any]) -> dict[str, Any]:
    plan = summary.get("plan") or {}
    return plan if isinstance(plan, dict) else {}


def run_cycle(
    stack: ChaosStack, tickers: str, label: str, timeout_s: float, cycle_s: float | None = None
) -> dict[str, Any]:
    """One `python -m jobs.collect --capabilities prices,news` cycle over `tickers` (with
    `--cycle-s` when given), with the driver's and the provider actors' peak RSS and the
    sim's counts of it."""
    request = CollectRequest(
        tickers=tickers.split(","),
        capabilities=["prices", "news"],
        cycle_s=cycle_s or None,
        no_analyze=True,
    )
    argv = [sys.executable, "-m", request.module, *request.argv()]
    before = sim_stats(stack)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, env=stack.job_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = _Lines(proc.stdout), _Lines(proc.stderr)
    timed_out = False
    try:
        with RssSampler(proc.pid) as sampler:
            shown, counted, connections = started, 0.0, 0
            while proc.poll() is None:
                if time.monotonic() - counted >= 2:
                    counted = time.monotonic()
                    connections = max(connections, pg_connections(stack.dsn))
                if time.monotonic() - started > timeout_s:
                    timed_out = True
                    proc.kill()
                    break
                if time.monotonic() - shown >= 15:
                    shown = time.monotonic()
                    last = out.lines[-1][:140] if out.lines else "-"
                    log(f"  cycle {label}, {shown - started:.0f}s: {last}")
                time.sleep(0.5)
            proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    wall_s = time.monotonic() - started
    delta = stats_delta(before, sim_stats(stack))
    summary = summary_of(out.text()) or {}
    plan = _plan(summary)
    cycle_s = summary.get("elapsed_s")
    result: dict[str, Any] = {
        "instruments": count_of(summary.get("instruments")) or len(tickers.split(",")),
        "exit": None if timed_out else proc.returncode,
        "wall_s": round(wall_s, 1),
        "cycle_s": cycle_s,
        "ideal_s": plan.get("ideal_s"),
        "cycle_over_ideal": ratio(cycle_s, plan.get("ideal_s")),
        "requests": sum(d["requests"] for d in delta.values()),
        "http_429": sum(d["limited"] for d in delta.values()),
        "deferred": count_of(plan.get("deferred")),
        "planned_requests": plan.get("requests"),
        "failed": count_of(summary.get("failed")),
        "failed_kinds": failure_kinds(summary.get("failed")),
        "counts": summary.get("counts"),
        "sim": delta,
        "per_provider_plan": plan.get("per_provider"),
        "deferred_first": (plan.get("deferred_first") or [])[:5],
        "peak_rss": sampler.figures(),
        "peak_pg_connections": connections,
    }
    if timed_out:
        result["error"] = f"timed out after {timeout_s:.0f}s"
    if not summary:
        result["error"] = result.get("error") or "no JSON summary line"
        result["stderr_tail"] = err.text()[-1500:]
    elif proc.returncode not in (0, None):
        result["stderr_tail"] = err.text()[-600:]
    return result


def first_data(stack: ChaosStack, ids: list[str], timeout_s: float) -> dict[str, Any]:
    """Seconds from `stockray up` on an empty home to the first bar of any of `ids` through
    the API (the key is the one `up` prints; a new read key once `up` is done if none)."""
    started = time.monotonic()
    proc = start_up(stack)
    lines = _Lines(proc.stdout)
    key, up_s, first_s = None, None, None
    try:
        while time.monotonic() - started < timeout_s:
            if up_s is None and proc.poll() is not None:
                up_s = round(time.monotonic() - started, 1)
                if proc.returncode:
                    raise RuntimeError(f"stockray up failed:\n{lines.text()[-3000:]}")
            key = key or admin_key("\n".join(lines.lines))
            if key is None and up_s is not None:
                key = stack.key("read", "bench-scale-first")
            if key and _any_bar(stack.api_url, key, ids):
                first_s = round(time.monotonic() - started, 1)
                break
            time.sleep(0.5)
        if up_s is None:
            proc.wait(timeout_s)
            up_s = round(time.monotonic() - started, 1)
    finally:
        stop_up(proc)
    output = lines.text()
    return {
        "first_data_s": first_s,
        "up_s": up_s,
        "after_up_s": round(first_s - up_s, 1) if first_s is not None and up_s else None,
        "up_printed_key": admin_key(output) is not None,
        "up_first_collection_lines": [
            ln.strip() for ln in output.splitlines() if "first collection" in ln.lower()
        ][:3],
        **(
            {}
            if first_s is not None
            else {
                "error": f"no bar through the API in {timeout_s}s",
                "up_output_tail": output.splitlines()[-12:],
            }
        ),
    }


def _any_bar(api_url: str, key: str, ids: list[str]) -> bool:
    async def check() -> bool:
        for instrument in ids:
            try:
                if await first_bar(api_url, key, instrument):
                    return True
            except (OSError, TimeoutError, ValueError):
                return False  # the API is not up yet
        return False

    try:
        return asyncio.run(check())
    except Exception:  # aiohttp's connection errors while the API starts
        return False

"""bench.scale's measuring parts: percentiles, the job's summary line, the sim's stats delta,
and a sampler of resident memory (a job driver with its children, and named Ray actors)."""

from __future__ import annotations

import contextlib
import json
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psutil

MB = 1024 * 1024
ANSI = re.compile(r"\x1b\[[0-9;]*m")
DECIMAL = re.compile(r"\d+\.\d+")  # "next slot in 776.6s": one kind whatever the wait
KEY_LINE = re.compile(r"API key[^:]*:\s*(\S+)")
PROVIDER_ACTOR_CLASSES = ("ProviderActor", "ProviderRouter")
COLLECT_TASK_PREFIX = "collect_"  # jobs.collect's Ray tasks


def p99_ms(seconds: list[float]) -> float | None:
    """The 99th percentile of latencies in seconds, in ms (None without two samples)."""
    if len(seconds) < 2:
        return None
    return round(statistics.quantiles(seconds, n=100, method="inclusive")[98] * 1000, 2)


def clip(text: str, head: int = 300, tail: int = 1200) -> str:
    """`text` whole when short, else its start and its end (where a traceback ends)."""
    return text if len(text) <= head + tail else f"{text[:head]} … {text[-tail:]}"


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    """`numerator / denominator`, None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


def summary_of(stdout: str) -> dict[str, Any] | None:
    """The job's summary: the last stdout line that is a JSON object (None if none is)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                return parsed
    return None


def admin_key(output: str) -> str | None:
    """The key `stockray up` prints once (`admin API key (shown once): <key>`), if any."""
    found = KEY_LINE.search(output)
    return found.group(1) if found else None


def stats_delta(before: dict[str, dict], after: dict[str, dict]) -> dict[str, dict[str, int]]:
    """Per provider, what the sim counted between two `/_sim/stats` answers: requests,
    limited (its rate-limit answers, 429 or the provider's own body) and http_429."""
    out = {}
    for name, now in after.items():
        then = before.get(name, {})
        delta = {k: int(now.get(k, 0)) - int(then.get(k, 0)) for k in ("requests", "limited")}
        delta["http_429"] = int(now.get("http_429", 0)) - int(then.get("http_429", 0))
        if any(delta.values()):
            out[name] = delta
    return out


def count_of(value: Any) -> int | None:
    """A plan's `deferred` as a number: a count as given, or the length of a list/dict."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, list | dict):
        return len(value)
    return None


def failure_kinds(failed: Any, top: int = 5) -> dict[str, int]:
    """The job's `failed` ({instrument: {capability: error}}) as the most frequent
    `capability: error` kinds (the error's last line) and their counts."""
    kinds: Counter[str] = Counter()
    if isinstance(failed, dict):
        for errors in failed.values():
            items = errors.items() if isinstance(errors, dict) else [("", errors)]
            kinds.update(f"{cap}: {_last_line(err)}".lstrip(": ") for cap, err in items)
    return dict(kinds.most_common(top))


def _last_line(error: Any) -> str:
    """An error's last non-empty line without colours (Ray's wrapper puts its task header
    first and the exception last), decimals as N, cut to 120 characters."""
    lines = [ln.strip() for ln in ANSI.sub("", str(error)).splitlines() if ln.strip()]
    return DECIMAL.sub("N", lines[-1])[:120] if lines else ""


def tree_rss(pid: int) -> int:
    """Resident bytes of process `pid` and its descendants (0 once it has exited)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def pids_rss(pids: Iterable[int]) -> int:
    """Resident bytes of these processes together (the ones that exist)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total


def provider_actor_pids() -> dict[str, int]:
    """Pid of each live provider actor of the connected cluster, by actor name (Ray's state
    API; `ray.init` must have run)."""
    from ray.util.state import list_actors

    actors = list_actors(
        filters=[("state", "=", "ALIVE")], detail=True, limit=1000, raise_on_missing_output=False
    )
    return {
        a.name or a.actor_id: a.pid
        for a in actors
        if a.class_name in PROVIDER_ACTOR_CLASSES and a.pid
    }


def collect_task_pids() -> dict[str, int]:
    """Pid of each Ray worker running one of jobs.collect's tasks now (`collect_*`), by task
    name and pid: the job's work runs there, beside the driver."""
    from ray.util.state import list_tasks

    tasks = list_tasks(
        filters=[("state", "=", "RUNNING")], detail=True, limit=10_000,
        raise_on_missing_output=False,
    )  # fmt: skip
    return {
        f"{t.name}:{t.worker_pid}": t.worker_pid
        for t in tasks
        if (t.name or "").startswith(COLLECT_TASK_PREFIX) and t.worker_pid
    }


@dataclass
class RssSampler:
    """Peak resident memory of a driver (with children), of the provider actors and of the
    workers running the job's tasks, sampled every `every_s` in a thread; the actors' and
    the tasks' pids are looked up every `refresh_s`."""

    driver_pid: int
    find_actors: Callable[[], dict[str, int]] = provider_actor_pids
    find_workers: Callable[[], dict[str, int]] = collect_task_pids
    every_s: float = 0.2
    refresh_s: float = 2.0
    peak_driver: int = 0
    peak_actors: int = 0
    peak_workers: int = 0
    peak_total: int = 0
    samples: int = 0
    actor_names: set[str] = field(default_factory=set)
    worker_pids: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        actors: dict[str, int] = {}
        workers: dict[str, int] = {}
        looked = -self.refresh_s
        while True:  # one sample at least, however soon the sampler is stopped
            if time.monotonic() - looked >= self.refresh_s:
                looked = time.monotonic()
                actors = self._look(self.find_actors, actors)
                workers = self._look(self.find_workers, workers)
                self.actor_names |= set(actors)
                self.worker_pids |= set(workers.values())
            driver = tree_rss(self.driver_pid)
            in_actors = pids_rss(actors.values())
            in_workers = pids_rss(set(workers.values()) - set(actors.values()))
            self.peak_driver = max(self.peak_driver, driver)
            self.peak_actors = max(self.peak_actors, in_actors)
            self.peak_workers = max(self.peak_workers, in_workers)
            self.peak_total = max(self.peak_total, driver + in_actors + in_workers)
            self.samples += 1
            if self._stop.wait(self.every_s):
                return

    def _look(self, find: Callable[[], dict[str, int]], last: dict[str, int]) -> dict[str, int]:
        try:
            return find()
        except Exception as exc:  # the state API busy: keep the last pids
            if len(self.errors) < 5:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return last

    def figures(self) -> dict[str, Any]:
        """Peaks in MB and what was sampled."""
        return {
            "driver_mb": round(self.peak_driver / MB, 1),
            "provider_actors_mb": round(self.peak_actors / MB, 1),
            "task_workers_mb": round(self.peak_workers / MB, 1),
            "total_mb": round(self.peak_total / MB, 1),
            "provider_actors": sorted(self.actor_names),
            "task_workers": len(self.worker_pids),
            "samples": self.samples,
            **({"sampler_errors": self.errors} if self.errors else {}),
        }

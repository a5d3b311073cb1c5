"""What every job entrypoint shares: settings, the cluster, the database, arguments, output."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Generic, NoReturn, TypeVar

import ray

from actors import NAMESPACE
from configs.settings import ConfigError, Settings, load_settings
from core.jobs.args import UsageError, csv_arg, resolve_tickers
from core.jobs.requests import JobRequest
from core.jobs.results import JobSummary
from core.logs import bind, configure_logging, log_context
from core.models import Capability, Instrument

# Little's law: keeping a provider at r requests/s when a request takes ~L seconds needs
# r*L calls in flight. L is taken as 1 s (a fetch plus its Ray hops); the provider actors'
# limiters, not this number, decide the actual rate.
NOMINAL_LATENCY_S = 1.0
MIN_IN_FLIGHT, MAX_IN_FLIGHT = 2, 32

# Job tasks reserve no CPU (they wait on provider and LLM actors), so Ray's default policy
# would keep them all on the driver's node; SPREAD puts them on every node of a cluster.
TASK_SCHEDULING = "SPREAD"
R = TypeVar("R", bound=JobRequest)


def usage_error(prog: str, message: str) -> NoReturn:
    """Print `prog: error: message` and exit 2 (argparse's convention)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_job_settings(prog: str) -> Settings:
    """Settings with a database to write to, or exit 2 naming the bad file or variable.

    Without STOCKRAY_DATABASE_URL (a shell, not a Ray Job of the stack) the job joins the
    stack `stockray up` recorded under STOCKRAY_HOME, or exits 2 saying what to do.
    """
    try:
        settings = load_settings()
    except ConfigError as exc:
        usage_error(prog, str(exc))
    if settings.database_url is None:  # run by hand in a shell: join the recorded stack
        settings = _join_recorded_stack(prog, settings)
    return settings


def _join_recorded_stack(prog: str, settings: Settings) -> Settings:
    from jobs.stack_env import NoStack, running_stack_env

    try:
        env = running_stack_env(settings)
    except NoStack as exc:
        usage_error(prog, str(exc))
    os.environ.update(env)  # for ray.init, and for what this job starts (jobs.analyze)
    # Ray read RAY_AUTH_MODE when it was imported; have it read again, as Ray itself does
    # when it turns token auth on for a process (authentication_token_setup).
    from ray._raylet import Config

    Config.initialize("")
    try:
        return load_settings()
    except ConfigError as exc:
        usage_error(prog, str(exc))


def read_request(cls: type[R], prog: str, argv: Sequence[str] | None = None) -> R:
    """The job's request from its command line (`sys.argv` by default), or exit 2 naming
    the bad argument (argparse prints its usage itself)."""
    try:
        return cls.from_argv(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        usage_error(prog, str(exc))


def check_request(
    prog: str, request: JobRequest, settings: Settings, now: datetime, enabled: set[str] | None
) -> None:
    """Exit 2 with the request's first problem (`JobRequest.problems`), if it has one."""
    try:
        request.check(settings, now, enabled)
    except UsageError as exc:
        usage_error(prog, str(exc))


@dataclass(frozen=True)
class JobStart(Generic[R]):
    """What a job knows once it has started: its request, settings, instruments, trace id."""

    request: R
    settings: Settings
    instruments: list[Instrument]
    trace_id: str


def start_job(prog: str, request: R) -> JobStart[R]:
    """A job's first steps: settings (exit 2 without a database), the request checked
    against them (exit 2 with its first problem), its instruments, the trace id (the
    request's, or a new one) and the driver's logging for the job's stage."""
    settings = load_job_settings(prog)
    check_request(prog, request, settings, datetime.now(UTC), None)
    instruments = instruments_arg(settings, getattr(request, "tickers", None))
    trace_id = request.trace_id or new_trace_id()
    job_logging(settings, trace_id, request.JOB)
    return JobStart(request, settings, instruments, trace_id)


def instruments_arg(settings: Settings, tickers: str | Sequence[str] | None) -> list[Instrument]:
    """The watchlist instruments named by `--tickers` (a comma-separated string or a list;
    a group name works too); all if None. UsageError names an unknown one."""
    names = csv_arg(tickers) if isinstance(tickers, str) else tickers
    ids = resolve_tickers(settings.watchlist, names)
    return [settings.watchlist.get(t).to_instrument() for t in ids]


def in_flight_for(settings: Settings, capabilities: Iterable[Capability]) -> int:
    """How many tasks to keep running so the primary providers can be kept busy.

    From the configured limits alone: which providers hold keys is the cluster's business
    (this may run in a shell without them), and the router skips those without.
    """
    rate = 0.0
    providers = settings.providers
    for capability in capabilities:
        names = providers.capabilities.get(capability, [])
        if names and providers.providers[names[0]].limits:
            shortest = min(providers.providers[names[0]].limits, key=lambda w: w.per_s)
            rate += shortest.requests / shortest.per_s
        elif names:
            rate += MAX_IN_FLIGHT
    return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, math.ceil(rate * NOMINAL_LATENCY_S)))


def connect_cluster() -> None:
    """Join the running cluster (the job's own under `ray job submit`) in our namespace.

    The driver's log settings go to its tasks' workers, which otherwise log the way their
    node was started: one job, one log format.
    """
    if not ray.is_initialized():
        ray.init(address="auto", namespace=NAMESPACE, log_to_driver=True, runtime_env=_log_env())


def _log_env() -> dict[str, Any] | None:
    # Only variables the job's own runtime env does not set: Ray refuses to merge the two
    # when a key appears in both.
    injected = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}") or "{}")
    taken = ((injected.get("runtime_env") or {}).get("env_vars")) or {}
    env_vars = {k: os.environ[k] for k in LOG_ENV if k in os.environ and k not in taken}
    return {"env_vars": env_vars} if env_vars else None


# Passed to the tasks' workers: log settings, and armed fault points (core/faults.py).
LOG_ENV = ("STOCKRAY_LOG_JSON", "STOCKRAY_LOG_LEVEL", "STOCKRAY_FAULTS")


def job_logging(settings: Settings, trace_id: str, stage: str) -> None:
    """The driver's logging: the one setup, with this run's trace id and stage bound."""
    configure_logging(settings)
    bind(trace_id=trace_id, stage=stage)


@contextmanager
def task_logging(trace_id: str, stage: str, instrument: str | None = None) -> Iterator[None]:
    """In a task's worker: the one setup (once per process) and this task's context.

    A worker runs many tasks in turn, so the context is scoped to the task, not bound."""
    _configure_worker_logging()
    with log_context(trace_id=trace_id, stage=stage, instrument=instrument):
        yield


def run_task(
    work: Callable[[], Awaitable[dict[str, Any]]],
    trace_id: str,
    stage: str,
    instrument: str | None = None,
) -> dict[str, Any]:
    """A task's body: `work()` run to its end in the task's logging context; its result
    with the Ray node it ran on (summaries count work per node)."""
    with task_logging(trace_id, stage, instrument):
        result = asyncio.run(work())
    return {**result, "node_id": node_id()}


@cache
def _configure_worker_logging() -> None:
    configure_logging(load_settings())


def new_trace_id() -> str:
    """A short random id that follows one run through every log line and row."""
    return uuid.uuid4().hex[:16]


def run_bounded(
    submit: Callable[[Any], ray.ObjectRef], items: list[Any], max_in_flight: int
) -> Iterator[tuple[Any, Any]]:
    """Submit `submit(item)` with at most `max_in_flight` outstanding; yield (item, result)
    as each finishes. A task's exception is yielded as the result."""
    pending: dict[ray.ObjectRef, Any] = {}
    queue = list(items)
    while queue or pending:
        while queue and len(pending) < max_in_flight:
            item = queue.pop(0)
            pending[submit(item)] = item
        ready, _ = ray.wait(list(pending), num_returns=1)
        item = pending.pop(ready[0])
        try:
            yield item, ray.get(ready[0])
        except Exception as exc:  # a task's failure is data for the summary
            yield item, exc


class Progress:
    """Progress lines for the job log: done/total, rows, rows/s, ETA."""

    def __init__(self, prog: str, total: int, every_s: float = 2.0) -> None:
        self.prog, self.total, self.every_s = prog, total, every_s
        self.done = self.rows = 0
        self.started = self._last = time.monotonic()

    def step(self, rows: int) -> None:
        """One unit finished with `rows` rows; print at most every `every_s` seconds."""
        self.done += 1
        self.rows += rows
        now = time.monotonic()
        if now - self._last >= self.every_s or self.done == self.total:
            self._last = now
            print(self.line(), flush=True)

    def line(self) -> str:
        """The current progress line."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate else float("inf")
        return (
            f"{self.prog}: {self.done}/{self.total} chunks, {self.rows} rows, "
            f"{self.rows / elapsed:.0f} rows/s, ETA {eta:.0f}s"
        )

    @property
    def rows_per_s(self) -> float:
        """Rows per second since the start."""
        return self.rows / max(time.monotonic() - self.started, 1e-9)


def node_id() -> str:
    """The Ray node this task runs on (job summaries count work per node)."""
    return ray.get_runtime_context().get_node_id()


def describe_error(err: BaseException) -> str:
    """One line for a task's failure: the typed error inside Ray's wrapper, not its traceback."""
    cause = getattr(err, "cause", None) or err
    return f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1][:300]}"


def summary_line(summary: JobSummary) -> None:
    """The last line of every job's output: one JSON object."""
    print(summary.line(), flush=True)

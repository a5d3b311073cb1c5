"""`stockray collect|backfill|analyze ARGS`: submit `python -m jobs.NAME ARGS` as a Ray Job.

The same Ray Job `ray job submit`, the scheduler and the API submit, through the running
stack's Jobs API. The command prints the job id, follows the job's log with a progress bar
driven by the jobs' progress lines (`jobs.common.Progress.line`), and exits with the job's
exit code. Arguments are checked locally first, so a bad one is refused (exit 2) before
anything is submitted. Ctrl-C stops following, not the job.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cluster import ray_head
from cluster.state import StackError, StackState
from configs.settings import ConfigError, Settings, load_settings
from core.jobs import JOB_REQUESTS, JobRequest, UsageError

JOBS = tuple(JOB_REQUESTS)
EXIT_USAGE, EXIT_INTERRUPTED = 2, 130

PROGRESS = re.compile(
    r"(?P<prog>[\w.]+): (?P<done>\d+)/(?P<total>\d+) chunks, (?P<rows>\d+) rows, "
    r"(?P<rate>[\d.]+|inf|nan) rows/s, ETA (?P<eta>[\d.]+|inf|nan)s"
)


@dataclass(frozen=True)
class ProgressLine:
    """One parsed `<prog>: <done>/<total> chunks, <rows> rows, <rate> rows/s, ETA <eta>s`."""

    prog: str
    done: int
    total: int
    rows: int
    rate: float
    eta_s: float


def parse_progress(line: str) -> ProgressLine | None:
    """The progress numbers in a job's log line, or None if it is another line."""
    match = PROGRESS.search(line)
    if match is None:
        return None
    return ProgressLine(
        prog=match["prog"],
        done=int(match["done"]),
        total=int(match["total"]),
        rows=int(match["rows"]),
        rate=float(match["rate"]),
        eta_s=float(match["eta"]),
    )


def exit_code(status: str, driver_exit_code: int | None) -> int:
    """The command's exit code for a finished job: the driver's, 130 when stopped."""
    if status == "SUCCEEDED":
        return 0
    if status == "STOPPED":
        return EXIT_INTERRUPTED
    return driver_exit_code or 1  # FAILED before the driver ran (e.g. runtime env): 1


def check_args(name: str, settings: Settings, job_args: list[str]) -> JobRequest:
    """The job's own argument parsing (`from_argv`) and checks (`problems`), here; exit 2
    on a bad argument. Every configured provider counts as enabled: the job checks the
    ones the cluster's router enables."""
    try:
        request = JOB_REQUESTS[name].from_argv(job_args)  # argparse exits 2 itself
        request.check(settings, datetime.now(UTC))
    except UsageError as exc:
        print(f"stockray {name}: error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    return request


def build_parser(name: str) -> argparse.ArgumentParser:
    """This command's own options; every other argument goes to the job."""
    parser = argparse.ArgumentParser(
        prog=f"stockray {name}",
        allow_abbrev=False,
        description=f"Submit `python -m jobs.{name} ARGS` to the running stack as a Ray Job "
        "and follow it with a progress bar; exit with the job's exit code.",
        epilog=f"Every other argument goes to the job: see `python -m jobs.{name} --help`.",
    )
    parser.add_argument(
        "--no-follow", action="store_true", help="print the job id and return at once"
    )
    return parser


def _dashboard(settings: Settings) -> str:
    recorded = StackState.load(settings.home).ray.dashboard_url
    for url in dict.fromkeys(u for u in (recorded, settings.dashboard_url) if u):
        if ray_head.dashboard_alive(url):
            return url
    raise StackError(
        f"no running stack answers (Ray dashboard {recorded or settings.dashboard_url}): "
        "run `stockray up` first"
    )


def stop_hint(job_id: str, dashboard: str) -> str:
    """The command that stops a job."""
    return f"RAY_AUTH_MODE=token ray job stop {job_id} --address {dashboard}"


def main(name: str, argv: Sequence[str]) -> int:
    """`stockray NAME [--no-follow] ARGS...`."""
    own, job_args = build_parser(name).parse_known_args(list(argv))
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"stockray: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        request = check_args(name, settings, job_args).traced(uuid.uuid4().hex[:16])
        dashboard = _dashboard(settings)
        from ray.job_submission import JobSubmissionClient

        client = JobSubmissionClient(dashboard, headers=ray_head.auth_headers())
        job_id = client.submit_job(
            entrypoint=request.to_entrypoint(),
            metadata={"trigger": "cli", "trace_id": request.trace_id},
        )
    except StackError as exc:
        print(f"stockray {name}: {exc}", file=sys.stderr)
        return 1
    print(f"stockray {name}: submitted job {job_id} (trace id {request.trace_id})", flush=True)
    if own.no_follow:
        print(f"follow it: RAY_AUTH_MODE=token ray job logs -f {job_id} --address {dashboard}")
        return 0
    try:
        asyncio.run(follow(client, job_id, name))
        return finish(client, job_id, name)
    except KeyboardInterrupt:
        print(
            f"\nstockray {name}: stopped following; job {job_id} keeps running "
            f"(stop it: {stop_hint(job_id, dashboard)})",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


def finish(client: Any, job_id: str, name: str, timeout_s: float = 60) -> int:
    """Wait for the job's final status (its log ends just before) and map it to an exit code."""
    deadline = time.monotonic() + timeout_s
    info = client.get_job_info(job_id)
    while not info.status.is_terminal() and time.monotonic() < deadline:
        time.sleep(0.5)
        info = client.get_job_info(job_id)
    status = info.status.value
    code = exit_code(status, info.driver_exit_code)
    if status == "FAILED" and info.driver_exit_code is None:
        print(f"stockray {name}: job {job_id} failed: {info.message}", file=sys.stderr)
    print(f"stockray {name}: job {job_id} {status.lower()} (exit {code})", flush=True)
    return code


async def follow(client: Any, job_id: str, name: str) -> None:
    """Stream the job's log: a progress bar on a terminal, the plain lines otherwise."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        async for line in _lines(client, job_id):
            print(line, flush=True)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks · {task.fields[rows]} rows · {task.fields[rate]} rows/s"),
        TextColumn("· ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"jobs.{name}", total=None, rows="-", rate="-", eta="-")
        async for line in _lines(client, job_id):
            seen = parse_progress(line)
            if seen is None:
                bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
                continue
            eta = f"{seen.eta_s:.0f}s" if math.isfinite(seen.eta_s) else "?"
            bar.update(
                task, total=seen.total, completed=seen.done, rows=seen.rows,
                rate=f"{seen.rate:.0f}", eta=eta,
            )  # fmt: skip


async def _lines(client: Any, job_id: str) -> AsyncIterator[str]:
    """The job's log, line by line (the Jobs API sends chunks of any size)."""
    pending = ""
    async for chunk in client.tail_job_logs(job_id):
        pending += chunk
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line
    if pending:
        yield pending

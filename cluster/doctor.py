"""`stockray doctor`: the operator's morning and evening checklist as one command.

One line per check, `ok|warn|fail|skip  name  detail`, then a count; `--json` prints one
`core.doctor.Report` document instead. Exit 0 when nothing failed (warnings included),
1 when a check failed, 2 for a configuration error. Each check runs in its own thread with
`STOCKRAY_DOCTOR_TIMEOUT_S`: a check that hangs or raises is a `fail` line, never a
traceback. Checks that need Postgres or Ray run after those and are skipped when they failed.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable

from cluster import doctor_checks as c
from configs.settings import Settings
from core.doctor import Check, Report
from core.redact import scrub

Probe = Callable[[c.Probe], Check]
# (name, probe, the check it needs): the order of the report.
CHECKS: list[tuple[str, Probe, str | None]] = [
    ("postgres", c.postgres, None),
    ("ray", c.ray, None),
    ("serve", c.serve, None),
    ("scheduler", c.scheduler_beat, "postgres"),
    ("redis", c.redis, None),
    ("sim", c.sim, None),
    ("disk", c.disk, None),
    ("memory", c.memory, None),
    ("pg_connections", c.connections, "postgres"),
    ("backup", c.backup, "postgres"),
    ("wal_archiving", c.wal_archiving, "postgres"),
    ("log_errors", c.log_errors, None),
    ("freshness", c.freshness_check, "postgres"),
    ("providers", c.providers, "ray"),
    ("llm_spend", c.llm_spend, "postgres"),
    ("tls_cert", c.tls_cert, None),
]


def _failed(name: str, exc: BaseException) -> Check:
    what = str(exc) if isinstance(exc, c.Missing) else f"{type(exc).__name__}: {exc}"
    return Check(name=name, status="fail", detail=scrub(what)[:300])


def _run_all(probe: c.Probe, batch: list[tuple[str, Probe]], timeout_s: float) -> dict[str, Check]:
    """Run `batch` in parallel threads; each gets `timeout_s` from now."""
    found: dict[str, Check] = {}

    def run(name: str, check: Probe) -> None:
        try:
            found[name] = check(probe)
        except Exception as exc:  # a probe's error is its line, not the command's end
            found[name] = _failed(name, exc)

    # Daemon threads: one stuck in a socket call does not keep the command from exiting.
    threads = [
        (name, threading.Thread(target=run, args=(name, f), name=f"doctor-{name}", daemon=True))
        for name, f in batch
    ]
    deadline = time.monotonic() + timeout_s
    for _, thread in threads:
        thread.start()
    for name, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if name not in found:
            found[name] = Check(name=name, status="fail", detail=f"no answer in {timeout_s:g} s")
    return found


def diagnose(settings: Settings) -> Report:
    """Every check's verdict, in the order of CHECKS."""
    probe = c.Probe.load(settings)
    timeout = settings.doctor_timeout_s
    found = _run_all(probe, [(n, f) for n, f, need in CHECKS if need is None], timeout)
    later = []
    for name, check, need in CHECKS:
        if need is None:
            continue
        if found[need].status == "fail":
            found[name] = Check(name=name, status="skip", detail=f"not checked: {need} failed")
        else:
            later.append((name, check))
    found |= _run_all(probe, later, timeout)
    return Report.of(found[name] for name, _, _ in CHECKS)


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    """Run the daily checks (components, headroom, backups, freshness, ...); exit 1 on a fail."""
    report = diagnose(settings)
    if args.json:
        print(report.model_dump_json(indent=2))
        return report.exit_code
    for check in report.checks:
        print(check.line())
    counts = {s: sum(1 for k in report.checks if k.status == s) for s in ("ok", "warn", "fail")}
    skipped = sum(1 for k in report.checks if k.status == "skip")
    print(
        f"doctor: {counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail, "
        f"{skipped} skipped"
    )
    return report.exit_code


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `stockray doctor [--json]`."""
    parser = sub.add_parser("doctor", help=(cmd_doctor.__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON document for machines")
    parser.set_defaults(doctor_handler=cmd_doctor)

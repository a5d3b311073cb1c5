"""Typed requests of the maintenance jobs: the weekly report, data retention and the base
backup (continuous archiving). They name no instruments; the scheduler starts them from a
`schedules.yaml` entry with `job: weekly_report | retention | basebackup`, and
`stockray NAME` submits one by hand."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any, ClassVar

from pydantic import PositiveInt

from core.jobs.args import day_arg
from core.jobs.requests import JobRequest


class WeeklyReportRequest(JobRequest):
    """`jobs.weekly_report`: the operators' weekly report as one HTML page."""

    JOB: ClassVar[str] = "weekly_report"
    DESCRIPTION: ClassVar[str] = (
        "`python -m jobs.weekly_report`: write the weekly operations report (HTML, with charts)."
    )

    end: date | None = None  # the report's last day (UTC); default: yesterday
    days: PositiveInt = 7

    @classmethod
    def _arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--end", help="last day covered, YYYY-MM-DD (default: yesterday)")
        parser.add_argument("--days", type=int, help="days covered (default: 7)")

    @classmethod
    def _refuse(cls, parser: argparse.ArgumentParser, given: dict[str, Any]) -> None:
        if "days" in given and not given["days"] > 0:
            parser.error("--days: give a whole number of days > 0")

    @classmethod
    def _convert(cls, given: dict[str, Any]) -> dict[str, Any]:
        out = dict(given)
        if "end" in out:
            out["end"] = day_arg(out["end"], "--end")
        return out


class RetentionRequest(JobRequest):
    """`jobs.retention`: delete what is older than each table's retention setting."""

    JOB: ClassVar[str] = "retention"
    DESCRIPTION: ClassVar[str] = (
        "`python -m jobs.retention`: delete rows past each table's retention (STOCKRAY_RETAIN_*)."
    )

    dry_run: bool = False

    @classmethod
    def _arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would go; delete nothing"
        )


class BaseBackupRequest(JobRequest):
    """`jobs.basebackup`: a base backup for point-in-time recovery, then the pruning of base
    backups and archived WAL past their retention."""

    JOB: ClassVar[str] = "basebackup"
    DESCRIPTION: ClassVar[str] = (
        "`python -m jobs.basebackup`: take a base backup (pg_basebackup) and prune old ones and"
        " their WAL."
    )

    prune_only: bool = False

    @classmethod
    def _arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--prune-only", action="store_true", help="only prune past the retention"
        )


MAINTENANCE_REQUESTS: tuple[type[JobRequest], ...] = (
    WeeklyReportRequest,
    RetentionRequest,
    BaseBackupRequest,
)
"""The jobs a schedule may start without naming instruments."""

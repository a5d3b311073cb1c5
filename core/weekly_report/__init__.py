"""The operators' weekly report (the StockPilot manual's "주간 리포트"): its numbers
(`model`), gathered from the database (`gather`), drawn by matplotlib (`charts`) and written
as one self-contained HTML page with a JSON of the numbers beside it (`files`). Ray-free:
`jobs.weekly_report` runs it, the API lists and serves the files."""

from core.weekly_report.files import (
    NAME_PATTERN,
    ReportFile,
    list_reports,
    report_dir,
    report_path,
    write_report,
)
from core.weekly_report.gather import Expected, gather
from core.weekly_report.model import WeeklyReport

__all__ = [
    "NAME_PATTERN",
    "Expected",
    "ReportFile",
    "WeeklyReport",
    "gather",
    "list_reports",
    "report_dir",
    "report_path",
    "write_report",
]

"""Where the weekly reports live and how they are written and listed.

`<home>/reports/weekly/weekly-<end>.html`, with `weekly-<end>.json` (the numbers) beside
it. Each file is written to a temporary file in the same folder and renamed over the old
one, so a reader sees the previous report or the new one, never part of one, and a
re-run for the same week replaces it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from core.weekly_report.model import WeeklyReport
from core.weekly_report.render import render_html

NAME_PATTERN = re.compile(r"weekly-([0-9]{4}-[0-9]{2}-[0-9]{2})\.html")
"""A report's file name; nothing else is served (no path, no other file)."""


@dataclass(frozen=True, slots=True)
class ReportFile:
    """A written report: its file name, the days it covers, when it was written, its size."""

    name: str
    start: date | None
    end: date
    created_at: datetime
    bytes: int


@dataclass(frozen=True, slots=True)
class Written:
    """What `write_report` did: the page's path, its size, and whether it replaced one."""

    path: Path
    bytes: int
    replaced: bool


def report_dir(home: Path) -> Path:
    """The folder of the weekly reports under the data dir."""
    return home / "reports" / "weekly"


def report_path(home: Path, name: str) -> Path | None:
    """The path of the report called `name`, or None if `name` is not a report's name."""
    if not NAME_PATTERN.fullmatch(name):
        return None
    return report_dir(home) / name


def write_report(home: Path, report: WeeklyReport) -> Written:
    """Render and write the report's page and numbers, each replaced atomically."""
    folder = report_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"weekly-{report.end.isoformat()}.html"
    replaced = page.exists()
    html = render_html(report).encode()
    numbers = {**report.model_dump(mode="json"), "totals": report.totals()}
    _replace(page.with_suffix(".json"), json.dumps(numbers, indent=1).encode())
    _replace(page, html)
    return Written(page, len(html), replaced)


def _replace(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def list_reports(home: Path) -> list[ReportFile]:
    """The reports written, newest week first."""
    folder = report_dir(home)
    if not folder.is_dir():
        return []
    found = []
    for page in folder.iterdir():
        match = NAME_PATTERN.fullmatch(page.name)
        if match is None or not page.is_file():
            continue
        try:
            end = date.fromisoformat(match.group(1))
        except ValueError:  # not a day: not a report's name (none is written so)
            continue
        stat = page.stat()
        start, created = None, datetime.fromtimestamp(stat.st_mtime, UTC)
        try:
            numbers = json.loads(page.with_suffix(".json").read_text())
            start = date.fromisoformat(numbers["start"])
            created = datetime.fromisoformat(numbers["generated_at"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # the page alone (its numbers lost): still listed, from the file itself
        found.append(ReportFile(page.name, start, end, created, stat.st_size))
    return sorted(found, key=lambda f: f.end, reverse=True)

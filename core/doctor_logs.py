"""Counting the ERROR lines stockray wrote in the last hour, by `stage`, for `stockray doctor`.

Reads both of `core.logs`' formats: JSON lines (`STOCKRAY_LOG_JSON=1`: `ts`, `level`, `stage`)
and plain text (`<local time> ERROR logger: message [stage=… …]`). Other lines (Ray's own,
tracebacks) are not stockray's records and are not counted. Only files changed since the
cut-off are opened, and only their last `TAIL_BYTES`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

TAIL_BYTES = 8 * 1024 * 1024
NO_STAGE = "-"
_TEXT = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ ERROR \S+: .*?(?:\[(?P<ctx>[^\[\]]*)\])?$"
)
_STAGE = re.compile(r"(?:^| )stage=(\S+)")


def error_stage(line: str, since: datetime) -> str | None:
    """The stage of a stockray ERROR line written at or after `since` (aware), else None."""
    line = line.strip()
    if line.startswith("{"):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or record.get("level") != "ERROR":
                return None
            at = datetime.fromisoformat(str(record["ts"]))
        except (ValueError, KeyError):
            return None
        return str(record.get("stage") or NO_STAGE) if at >= since else None
    match = _TEXT.match(line)
    if match is None:
        return None
    at = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S").astimezone()  # local time
    if at < since:
        return None
    stage = _STAGE.search(match["ctx"] or "")
    return stage[1] if stage else NO_STAGE


def count_errors(paths: Iterable[Path], since: datetime) -> tuple[dict[str, int], int]:
    """ERROR lines per stage in the files changed since `since`, and how many files were read."""
    counts: Counter[str] = Counter()
    read = 0
    for path in paths:
        try:
            if not path.is_file() or path.stat().st_mtime < since.timestamp():
                continue
            with path.open("rb") as f:
                size = f.seek(0, 2)
                f.seek(max(0, size - TAIL_BYTES))
                text = f.read().decode("utf-8", errors="replace")
        except OSError:  # rotated or removed while we looked
            continue
        read += 1
        for line in text.splitlines():
            stage = error_stage(line, since)
            if stage is not None:
                counts[stage] += 1
    return dict(counts), read

"""The one error of backup and restore."""

from __future__ import annotations


class BackupError(Exception):
    """A backup or restore stopped; `exit_code` is 1 (failed or corrupt) or 2 (bad usage)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

"""The configuration error every loader raises, and how it names a file."""

from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    """Invalid configuration: the `source` file or variable, the field, and what was wrong."""

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        where = f"{source}: {field}" if field else source
        super().__init__(f"configuration error in {where}: {problem}")
        self.source = source
        self.field = field
        self.problem = problem


def shown_path(path: Path) -> str:
    """`path` relative to the working directory when it is under it (as errors show it)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)

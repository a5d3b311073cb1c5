"""What `stockray up` started, remembered in `<home>/stack.json` so `down` stops exactly that."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


class StackError(Exception):
    """A component could not be started, reached or stopped; the message says what to do."""


@dataclass
class PostgresState:
    """The database the stack uses; `pgdata` only when embedded."""

    embedded: bool = True
    pgdata: str | None = None
    uri: str | None = None
    started_by_up: bool = False


@dataclass
class RayState:
    """The Ray cluster; `session_dir` and `gcs_address` identify a head that `up` started."""

    started_by_up: bool = False
    gcs_address: str | None = None
    session_dir: str | None = None
    dashboard_url: str | None = None


@dataclass
class ServeState:
    """The Serve application `up` deployed."""

    app: str | None = None
    api_url: str | None = None
    deployed_by_up: bool = False


@dataclass
class SimState:
    """The provider simulator `up` started (a `python -m sim` process)."""

    pid: int | None = None
    admin_url: str | None = None
    urls: dict[str, str] = field(default_factory=dict)
    started_by_up: bool = False


@dataclass
class StackState:
    """Everything `up` records."""

    postgres: PostgresState = field(default_factory=PostgresState)
    ray: RayState = field(default_factory=RayState)
    serve: ServeState = field(default_factory=ServeState)
    sim: SimState = field(default_factory=SimState)
    # What a job run by hand in a shell needs to join this stack (`jobs/stack_env.py` reads it
    # from stack.json, so jobs need not import the cluster package).
    job_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, home: Path) -> StackState:
        """The recorded state, or an empty one when nothing was ever started here."""
        path = home / "stack.json"
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text())
            return cls(
                postgres=PostgresState(**raw.get("postgres", {})),
                ray=RayState(**raw.get("ray", {})),
                serve=ServeState(**raw.get("serve", {})),
                sim=SimState(**raw.get("sim", {})),
                job_env=dict(raw.get("job_env", {})),
            )
        except (ValueError, TypeError) as exc:
            raise StackError(
                f"{path} is unreadable ({exc}); remove it and run `up` again"
            ) from None

    def save(self, home: Path) -> None:
        """Write atomically: a crash never leaves half a file."""
        home.mkdir(parents=True, exist_ok=True)
        tmp = home / "stack.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, home / "stack.json")

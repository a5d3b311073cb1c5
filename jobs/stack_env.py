"""A job run by hand in a shell next to a running `stockray up` stack: find that stack.

Under `ray job submit` (or the scheduler) the head's environment already names the
database; in a plain shell the job takes the environment `up` recorded as `job_env` in
`<home>/stack.json` (the same database, Ray cluster, dashboard and provider URLs `up` gives
the head). The file is the contract: jobs do not import the cluster package.
"""

from __future__ import annotations

import json

import httpx

from configs.settings import Settings


class NoStack(Exception):
    """No running stack to join; the message says what to do."""


def _what_to_do(settings: Settings, why: str) -> str:
    return (
        f"STOCKRAY_DATABASE_URL is not set and {why}: run `stockray up` first (with the same "
        f"STOCKRAY_HOME, now {settings.home}), or set STOCKRAY_DATABASE_URL and RAY_ADDRESS "
        "to the database and Ray cluster to use"
    )


def _answers(url: str) -> bool:
    """Whether anything answers HTTP there (under token auth the dashboard may say 401)."""
    try:
        httpx.get(f"{url}/api/version", timeout=3.0)
    except httpx.HTTPError:
        return False
    return True


def running_stack_env(settings: Settings) -> dict[str, str]:
    """Variables that point this process at the stack `up` recorded under `settings.home`.

    Raises NoStack when nothing was recorded there or its Ray dashboard does not answer.
    """
    path = settings.home / "stack.json"
    try:
        recorded = json.loads(path.read_text()) if path.exists() else {}
        env = {str(k): str(v) for k, v in dict(recorded.get("job_env") or {}).items()}
        dashboard = (recorded.get("ray") or {}).get("dashboard_url")
    except (ValueError, TypeError, AttributeError) as exc:
        raise NoStack(_what_to_do(settings, f"{path} is unreadable ({exc})")) from None
    if not env.get("STOCKRAY_DATABASE_URL") or not dashboard:
        raise NoStack(_what_to_do(settings, f"no stack is recorded in {settings.home}"))
    if not _answers(dashboard):
        raise NoStack(_what_to_do(settings, f"the stack's Ray dashboard {dashboard} is down"))
    if settings.ray_address:
        env["RAY_ADDRESS"] = settings.ray_address
    return env

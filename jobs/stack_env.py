"""A job run by hand in a shell next to a running `stockray up` stack: find that stack.

Under `ray job submit` (or the scheduler) the head's environment already names the
database; in a plain shell the job reads what `up` recorded in `<home>/stack.json` and
takes the same database, Ray cluster, dashboard and provider URLs `up` gives the head.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from configs.settings import Settings


class NoStack(Exception):
    """No running stack to join; the message says what to do."""


def _what_to_do(settings: Settings, why: str) -> str:
    return (
        f"STOCKRAY_DATABASE_URL is not set and {why}: run `stockray up` first (with the same "
        f"STOCKRAY_HOME, now {settings.home}), or set STOCKRAY_DATABASE_URL and RAY_ADDRESS "
        "to the database and Ray cluster to use"
    )


def running_stack_env(settings: Settings) -> dict[str, str]:
    """Variables that point this process at the stack `up` recorded under `settings.home`.

    Raises NoStack when nothing was recorded there or its Ray dashboard does not answer.
    """
    from cluster import ray_head, sim_process
    from cluster.state import StackError, StackState

    try:
        state = StackState.load(settings.home)
    except StackError as exc:
        raise NoStack(_what_to_do(settings, str(exc))) from None
    dashboard = state.ray.dashboard_url
    if not state.postgres.uri or not dashboard:
        raise NoStack(_what_to_do(settings, f"no stack is recorded in {settings.home}"))
    if not ray_head.dashboard_alive(dashboard):
        raise NoStack(_what_to_do(settings, f"the stack's Ray dashboard {dashboard} is down"))
    where = urlsplit(dashboard)
    env = {
        "STOCKRAY_DATABASE_URL": state.postgres.uri,
        "STOCKRAY_DASHBOARD_HOST": where.hostname or settings.dashboard_host,
        "STOCKRAY_DASHBOARD_PORT": str(where.port or settings.dashboard_port),
        "RAY_AUTH_MODE": "token",  # the head `up` starts authenticates every client
        **sim_process.provider_env(settings, state.sim),
    }
    address = settings.ray_address or state.ray.gcs_address
    if address:
        env["RAY_ADDRESS"] = address  # ray.init(address="auto") takes it over its own lookup
    return env

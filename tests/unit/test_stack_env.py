"""A job run by hand joins the stack `up` recorded: the `job_env` of `<home>/stack.json`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cluster.state import RayState, StackState
from configs.settings import load_settings
from jobs.stack_env import NoStack, running_stack_env


class _Unauthorized(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)  # what a token-auth dashboard says to a request without one
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dashboard() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _record(home: Path, dashboard: str) -> dict[str, str]:
    env = {"STOCKRAY_DATABASE_URL": "postgresql://u@127.0.0.1:5999/db", "RAY_ADDRESS": "x:1"}
    StackState(ray=RayState(dashboard_url=dashboard), job_env=env).save(home)
    return env


def test_the_recorded_environment_is_taken(tmp_path: Path, dashboard: str) -> None:
    env = _record(tmp_path, dashboard)
    settings = load_settings(home=tmp_path)
    assert running_stack_env(settings) == env
    assert StackState.load(tmp_path).job_env == env  # the writer's own reader agrees


def test_nothing_recorded_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(NoStack, match=r"no stack is recorded in .*run `stockray up` first"):
        running_stack_env(load_settings(home=tmp_path))


def test_a_stack_whose_dashboard_is_down_is_refused(tmp_path: Path, dashboard: str) -> None:
    _record(tmp_path, "http://127.0.0.1:9")  # discard port: nothing answers
    with pytest.raises(NoStack, match=r"Ray dashboard http://127\.0\.0\.1:9 is down"):
        running_stack_env(load_settings(home=tmp_path))


def test_an_unreadable_record_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text(json.dumps({"job_env": ["not", "a", "map"]}))
    with pytest.raises(NoStack, match="unreadable"):
        running_stack_env(load_settings(home=tmp_path))

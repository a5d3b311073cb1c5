"""Session-wide real services shared by unit and integration tests."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import RedisServer

# Ray reads its auth mode when first imported; every cluster in these tests uses tokens.
os.environ["RAY_AUTH_MODE"] = "token"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real redis-server started for this test session."""
    server = RedisServer(Path(tempfile.mkdtemp(prefix="srredis")))
    yield server.url
    server.stop()

"""Session-wide real services shared by unit and integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import RedisServer


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real redis-server started for this test session."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()

"""A migrated database with a few instruments, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from core.models import Instrument
from core.storage.db import connect, sync_instruments
from core.storage.migrations import migrate

INSTRUMENTS = [
    Instrument("AAPL", "Apple", "NASDAQ", "USD", "America/New_York"),
    Instrument("MSFT", "Microsoft", "NASDAQ", "USD", "America/New_York"),
    Instrument("005930.KS", "Samsung Electronics", "KRX", "KRW", "Asia/Seoul"),
]


@pytest.fixture
async def conn(fresh_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(fresh_dsn)
    await migrate(connection)
    await sync_instruments(connection, INSTRUMENTS)
    yield connection
    await connection.close()

"""A split that arrives after history was stored: raw bars stay, the adjusted series bends.

Through the simulator and the real clients into a real Postgres, with collection's own
`save_prices` and watermarks and the API's own reads (`core.storage.bars`, `core.adjust`):
collect a series, inject a 4:1 split dated after it, collect again from the watermark,
fetch the old window once more. For Yahoo (answers split-adjusted as of the request) and
Alpha Vantage premium (answers as traded, with split coefficients).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.adjust import adjust
from core.collection import collect_window, save_prices, watermark_key
from core.models import Capability, Instrument
from core.providers import CLIENTS
from core.providers.sessions import calendar_for
from core.storage import bars as bars_repo
from core.storage import watermarks
from core.storage.db import sync_instruments
from sim.server import SimServer

MSFT = Instrument("MSFT", "Microsoft", "NASDAQ", "USD", "America/New_York", {})


@pytest.fixture
def injected(sim: SimServer):
    yield sim
    sim.clear_splits()


def _client(sim: SimServer, provider: str):
    options = {"plan": "premium"} if provider == "alphavantage" else {}
    return CLIENTS[provider](sim.urls[provider], api_key="k", timeout_s=10.0, **options)


async def _collect(conn, client, now: datetime) -> int:
    key = watermark_key(Capability.PRICES, "1d")
    covered = await watermarks.latest(conn, MSFT.id, key)
    start, end = collect_window(Capability.PRICES, covered, now)
    series = await client.fetch_bars(MSFT, start, end)
    return (await save_prices(conn, None, series, end)).saved


@pytest.mark.parametrize("provider", ["yahoo", "alphavantage"])
@pytest.mark.parametrize("ratio", [4.0, 1.5])  # 3:2 is not a power of two: float noise shows
async def test_split_after_stored_history_changes_no_bar(
    provider: str, ratio: float, injected: SimServer, migrated_pool
) -> None:
    sessions = calendar_for(MSFT).sessions(date.today() - timedelta(days=60), date.today())
    split_day = sessions[-10]  # after the first collection, before today
    first_until = datetime.combine(sessions[-15], datetime.min.time(), UTC)
    async with migrated_pool.acquire() as conn, _client(injected, provider) as client:
        await sync_instruments(conn, [MSFT])
        assert await _collect(conn, client, first_until) > 0
        stored = await bars_repo.read_bars(conn, MSFT.id, "1d", datetime.min.replace(tzinfo=UTC),
                                           first_until)  # fmt: skip
        injected.add_split(MSFT.id, split_day.isoformat(), ratio * 2, 2.0)

        await _collect(conn, client, datetime.now(UTC))  # from the watermark, across the split
        # The old window once more (a backfill re-run): Yahoo now divides it by 4 as well.
        again = await client.fetch_bars(MSFT, stored[0].ts, first_until)
        assert [(b.ts, b.close, b.volume) for b in again.bars] == [
            (b.ts, b.close, b.volume) for b in stored
        ]
        end = datetime.now(UTC)
        raw = await bars_repo.read_bars(conn, MSFT.id, "1d", stored[0].ts, end)
        actions = await bars_repo.read_actions(conn, MSFT.id)

    # Raw bars unchanged, bar for bar, and every bar from this one provider.
    assert raw[: len(stored)] == stored
    assert {b.provider for b in raw} == {provider}
    split = [a for a in actions if a.kind == "split" and a.ex_date == split_day]
    assert split and split[0].ratio == ratio and split[0].provider == provider

    def jump(series) -> float:  # close on the split day over the close the session before
        by_day = {b.ts.astimezone(calendar_for(MSFT).zone).date(): b.close for b in series}
        i = sessions.index(split_day)
        return by_day[split_day] / by_day[sessions[i - 1]]

    assert jump(raw) == pytest.approx(1 / ratio, rel=0.25)  # as traded: a 4:1 drop
    adjusted = adjust(raw, actions, {}, "splits", MSFT.timezone)
    assert 0.8 < jump(adjusted.bars) < 1.25  # split-adjusted: continuous
    before = [b for b in adjusted.bars if b.ts.date() < split_day]
    assert before and all(
        a.close == pytest.approx(r.close / ratio) for a, r in zip(before, raw, strict=False)
    )

"""The collect job's workers: a few Ray tasks, each running its share of the plan's requests
concurrently (a bounded number per provider, in the plan's order) with one connection pool,
and streaming each request's outcome back as it finishes (a Ray streaming generator).

A task per request would start a Python worker per request in flight and pay settings,
connections and handles for every one; a 700-instrument cycle then could not keep Yahoo's
5 a second busy on two cores. Rows are written per request and dropped: memory does not
grow with the watchlist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ray

from actors.events import publish
from configs.settings import Settings, load_settings
from core.collection import (
    Counts,
    collect_window,
    save_disclosures,
    save_fundamentals,
    save_news,
    save_prices,
    watermark_key,
)
from core.errors import ProviderError
from core.events import Article, Bar, Collected, Payload
from core.logs import log_context
from core.models import Capability, Instrument
from core.planning import Unit
from core.storage import watermarks
from core.storage.db import create_pool
from core.storage.lake import Lake
from jobs.common import TASK_SCHEDULING, describe_error, task_logging

COLLECTORS = 2
"""Worker tasks per run: their event loops overlap the requests' waits; more would only add
processes on a small machine (the provider actors' limiters set the pace)."""
MAX_ARTICLE_EVENTS = 20  # per instrument and run; a first collection may save hundreds
log = logging.getLogger("stockray.jobs.collect")


@dataclass
class Shared:
    """What one worker's requests share: settings, the router, the lake, dedupe, a pool."""

    settings: Settings
    router: Any
    lake: Lake
    dedupe: Any
    pool: Any


async def _open(pool_size: int) -> Shared:
    from actors.dedupe import make_dedupe
    from actors.providers import router_handle

    settings = load_settings()
    dsn = settings.database_url.get_secret_value()
    return Shared(
        settings,
        router_handle(),
        Lake(settings.home / "lake"),
        await make_dedupe(settings),
        await create_pool(dsn, min_size=1, max_size=pool_size),
    )


async def _collect_unit(
    shared: Shared, unit: Unit, instruments: list[Instrument], interval: str, now: datetime
) -> dict[str, Any]:
    """One planned request and the writes of what it brought."""
    capability = unit.capability
    per: dict[str, dict[str, Any]] = {
        i.id: {"counts": Counts(), "provider": None, "error": None, "new_articles": 0}
        for i in instruments
    }
    events: list[tuple[Payload, str]] = []  # published after the rows are committed
    async with shared.pool.acquire() as conn:
        marks = await watermarks.latest_many(conn, list(per), watermark_key(capability, interval))
    windows = {i: collect_window(capability, marks.get(i), now, interval) for i in per}
    try:
        if len(instruments) > 1:  # one multi-instrument request, then a save per instrument
            start = min(w[0] for w in windows.values())
            routed = await shared.router.fetch_batch.remote(
                unit.provider, capability, instruments, start, now
            )
            async with shared.pool.acquire() as conn:
                for instrument in instruments:
                    found = routed.result.get(instrument.id, [])
                    await _save_news(conn, shared, instrument, routed.provider, found, per, events)
        else:
            instrument = instruments[0]
            start, end = windows[instrument.id]
            routed = await _fetch_one(shared.router, unit, instrument, start, end, interval)
            async with shared.pool.acquire() as conn:
                if capability is Capability.PRICES:
                    saved = await save_prices(conn, shared.lake, routed.result, end)
                    per[instrument.id]["counts"] += saved
                    if saved.saved:
                        events.append((Bar.newest(routed.result.bars, interval), instrument.id))
                elif capability is Capability.NEWS:
                    await _save_news(
                        conn, shared, instrument, routed.provider, routed.result, per, events
                    )
                elif capability is Capability.FUNDAMENTALS:
                    per[instrument.id]["counts"] += await save_fundamentals(
                        conn, instrument.id, routed.provider, routed.result, end
                    )
                else:
                    per[instrument.id]["counts"] += await save_disclosures(
                        conn, instrument.id, routed.provider, routed.result
                    )
        for entry in per.values():
            entry["provider"] = routed.provider
    except ProviderError as err:  # this request failed; the run's other requests go on
        for entry in per.values():  # the typed error's words, not Ray's traceback around it
            entry["error"] = str(getattr(err, "cause", None) or err)
        log.warning(
            "%s failed: %s", capability.value, err,
            extra={"provider": getattr(err, "provider", None), "status": "failed"},
        )  # fmt: skip
    for event, instrument_id in events:  # after the rows are committed
        await publish(event, instrument_id)
    for instrument_id, entry in per.items():
        await publish(_collected(instrument_id, capability, entry), instrument_id)
    log.info(
        "collected %s %s via %s", capability.value, len(instruments), unit.provider,
        extra={"status": "partial" if any(e["error"] for e in per.values()) else "ok"},
    )  # fmt: skip
    return {
        "capability": capability.value,
        "instruments": {i: {**e, "counts": e["counts"].as_dict()} for i, e in per.items()},
    }


async def _fetch_one(
    router: Any, unit: Unit, instrument: Instrument, start: datetime, end: datetime, interval: str
) -> Any:
    # One instrument: the plan's provider first, then failover in the configured order.
    if unit.capability is Capability.PRICES:
        return await router.fetch_bars.remote(instrument, start, end, interval, first=unit.provider)
    if unit.capability is Capability.NEWS:
        return await router.fetch_news.remote(instrument, start, end, first=unit.provider)
    if unit.capability is Capability.FUNDAMENTALS:
        return await router.fetch_fundamentals.remote(instrument, start, end, first=unit.provider)
    return await router.fetch_disclosures.remote(instrument, start, end, first=unit.provider)


async def _save_news(
    conn: Any,
    shared: Shared,
    instrument: Instrument,
    provider: str,
    articles: list[Any],
    per: dict[str, dict[str, Any]],
    events: list[tuple[Payload, str]],
) -> None:
    fresh: list[Any] = []
    news = await save_news(
        conn, shared.lake, instrument.id, provider, articles, shared.dedupe, fresh_out=fresh
    )
    newest = sorted(fresh, key=lambda a: a.published_at, reverse=True)[:MAX_ARTICLE_EVENTS]
    events += [(Article.of(a), instrument.id) for a in newest]
    per[instrument.id]["counts"] += news
    per[instrument.id]["new_articles"] = news.saved


def _collected(instrument_id: str, capability: Capability, entry: dict[str, Any]) -> Collected:
    return Collected(
        instrument=instrument_id,
        counts=entry["counts"].as_dict(),
        providers={capability.value: entry["provider"]} if entry["provider"] else {},
        errors={capability.value: entry["error"]} if entry["error"] else {},
        new_articles=entry["new_articles"],
    )


@dataclass(frozen=True)
class Batch:
    """One worker's share of a run: (plan index, unit) pairs, the instruments they name, the
    requests allowed in flight per provider, the price interval, the run's now and trace id."""

    work: list[tuple[int, Unit]]
    instruments: dict[str, Instrument]
    caps: dict[str, int]
    interval: str
    now: datetime
    trace_id: str


async def _run(batch: Batch, out: asyncio.Queue) -> None:
    shared = await _open(pool_size=max(1, sum(batch.caps.values())))
    lanes = {p: asyncio.Semaphore(n) for p, n in batch.caps.items()}  # FIFO: the plan's order

    async def one(index: int, unit: Unit) -> None:
        chosen = [batch.instruments[i] for i in unit.instrument_ids]
        single = chosen[0].id if len(chosen) == 1 else None
        async with lanes[unit.provider]:
            with log_context(trace_id=batch.trace_id, stage="collect", instrument=single):
                try:
                    result = await _collect_unit(shared, unit, chosen, batch.interval, batch.now)
                except Exception as exc:  # a bug or a lost actor: this request failed
                    log.exception("request %s failed", index)
                    result = {"error": describe_error(exc)}
        await out.put({"index": index, **result})

    try:
        await asyncio.gather(*(one(i, u) for i, u in batch.work))
    finally:
        await shared.pool.close()


async def _next(out: asyncio.Queue, main: asyncio.Task) -> dict[str, Any]:
    # The next outcome; if the worker's main task ended without it, its error.
    getter = asyncio.ensure_future(out.get())
    done, _ = await asyncio.wait({getter, main}, return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        return getter.result()
    getter.cancel()
    main.result()  # raises what ended it
    raise RuntimeError("the collector ended before all its requests")


@ray.remote(num_cpus=0, scheduling_strategy=TASK_SCHEDULING, num_returns="streaming")
def collect_units(batch: Batch) -> Iterator[dict[str, Any]]:
    """Run the batch's work with at most `caps[provider]` requests in flight per provider;
    yield `{"index", "capability", "instruments"}` (or `{"index", "error"}`) as each request
    ends (a Ray task with streaming returns)."""
    with task_logging(batch.trace_id, "collect"):
        loop = asyncio.new_event_loop()
        out: asyncio.Queue = asyncio.Queue()
        main = loop.create_task(_run(batch, out))
        try:
            for _ in batch.work:
                yield loop.run_until_complete(_next(out, main))
            loop.run_until_complete(main)
        finally:
            if not main.done():
                main.cancel()
                loop.run_until_complete(asyncio.gather(main, return_exceptions=True))
            loop.close()

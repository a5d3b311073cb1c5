"""`/api/v1/watchlist` (every instrument's last price, change, sentiment and rating in one
answer) and `/api/v1/status` (the runs collecting now and how far they are)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from core.storage import progress as runs
from core.storage import watchlist as reads
from serve_app.context import AppContext, Ctx
from serve_app.errors import ApiError, error_responses
from serve_app.routes import cached_answer, read_router

router = read_router()
MAX_ROWS = 1000
WATCHLIST_TAG = "watchlist"
"""Cache tag of the watchlist answers; every event naming an instrument drops them."""


class WatchlistRow(BaseModel):
    """One instrument: its two newest daily closes (split-adjusted as `/bars` adjusts by
    default; null until a bar is stored), the change between them, the average sentiment
    of the newest day with analysed articles in the last `sentiment_days`, and its latest
    published report's rating and sentiment."""

    id: str
    name: str
    exchange: str
    currency: str
    symbols: dict[str, str] = {}
    last: float | None = None
    last_ts: datetime | None = None
    previous: float | None = None
    previous_ts: datetime | None = None
    change: float | None = None
    change_pct: float | None = None
    sentiment: float | None = None
    sentiment_day: date | None = None
    rating: str | None = None
    report_sentiment: float | None = None
    report_at: datetime | None = None
    report_id: str | None = None
    sparkline: list[float] = []
    """The newest `spark` daily closes, split-adjusted, oldest first (empty when not asked)."""


class Watchlist(BaseModel):
    """A page of the watchlist, ordered by instrument id; `total` counts every instrument
    (of the `group`, when one was asked for)."""

    instruments: list[WatchlistRow]
    total: int
    limit: int
    offset: int
    sentiment_days: int
    group: str | None = None
    spark: int = 0


class RunStatus(BaseModel):
    """A run that is pending or running: `done` of `total` (planned requests for a collect,
    chunks for a backfill; null until it reports), the instruments it finished `last`, its
    counts so far and when it last reported (`progress_at`)."""

    run_id: str
    kind: str
    trace_id: str
    status: str
    started_at: datetime
    done: int | None = None
    total: int | None = None
    last: str | None = None
    counts: dict[str, Any] = {}
    progress_at: datetime | None = None


class Status(BaseModel):
    """What is collecting now: the active runs, and how many of the watchlist's
    `instruments` have any price stored yet (`with_prices`)."""

    collecting: bool
    runs: list[RunStatus]
    instruments: int
    with_prices: int


@router.get("/watchlist", response_model=Watchlist, responses=error_responses(404))
async def watchlist(
    request: Request,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = MAX_ROWS,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    sentiment_days: Annotated[int, Query(ge=1, le=365)] = reads.SENTIMENT_DAYS,
    group: Annotated[str | None, Query(max_length=100)] = None,
    spark: Annotated[int, Query(ge=0, le=reads.MAX_SPARK)] = 0,
) -> Response:
    """The watchlist as one table, `limit` instruments from `offset` (ordered by id), only
    the `group`'s when given (a group of `watchlist.yaml`, e.g. `sp500`): last price and
    change, recent sentiment and rating, and with `spark` each row's last `spark` daily
    closes for a sparkline. One query for every row; cached until an event names any
    instrument."""
    groups = ctx.settings.watchlist.groups
    if group is not None and group not in groups:
        known = ", ".join(sorted(groups)) or "none"
        raise ApiError(404, "not_found", f"unknown group {group!r} (groups: {known})")
    ids = list(groups[group]) if group is not None else None

    async def produce() -> Response:
        pool = await ctx.pool()
        total, rows = await reads.watchlist(pool, limit, offset, sentiment_days, ids, spark)
        # Built without validation (the rows' types are the models' own): the same JSON
        # in a little over half the time for 700 rows.
        page = Watchlist.model_construct(
            instruments=[_row(r) for r in rows],
            total=total,
            limit=limit,
            offset=offset,
            sentiment_days=sentiment_days,
            group=group,
            spark=spark,
        )
        return Response(page.model_dump_json(), media_type="application/json")

    return await cached_answer(request, ctx, [WATCHLIST_TAG], produce)


def _row(r: reads.WatchlistEntry) -> WatchlistRow:
    last, previous = r.last, r.previous
    change = last - previous if last is not None and previous is not None else None
    return WatchlistRow.model_construct(
        id=r.id,
        name=r.name,
        exchange=r.exchange,
        currency=r.currency,
        symbols=r.symbols,
        last=last,
        last_ts=r.last_ts,
        previous=previous,
        previous_ts=r.previous_ts,
        change=change,
        change_pct=change / previous if change is not None and previous else None,
        sentiment=r.sentiment,
        sentiment_day=r.sentiment_day.date() if r.sentiment_day is not None else None,
        rating=r.rating,
        report_sentiment=r.report_sentiment,
        report_at=r.report_at,
        report_id=str(r.report_id) if r.report_id is not None else None,
        sparkline=r.sparkline,
    )


@router.get("/status", response_model=Status)
async def status(ctx: Ctx) -> Status:
    """Runs pending or running now (newest first) with their progress, and how many
    instruments have prices: the dashboard shows "collecting N/M" from this, then follows
    the `job.progress` events."""
    pool = await ctx.pool()
    active = await runs.active_runs(pool)
    instruments, priced = await runs.instruments_with_prices(pool)
    shown = [_run(ctx, r) for r in active]
    return Status(collecting=bool(shown), runs=shown, instruments=instruments, with_prices=priced)


def _run(ctx: AppContext, run: runs.ActiveRun) -> RunStatus:
    # What the run stored, else its backfill chunk counts, else the last event seen here.
    run_id = str(run.id)
    counts = run.counts or {}
    found = run.progress or ctx.progress.latest(run_id) or {}
    done, total = found.get("done"), found.get("total")
    if done is None and "chunks_total" in counts:
        done = counts.get("chunks_done", 0) + counts.get("chunks_failed", 0)
        total = counts["chunks_total"]
    return RunStatus(
        run_id=run_id,
        kind=run.kind,
        trace_id=run.trace_id,
        status=run.status,
        started_at=run.started_at,
        done=done,
        total=total,
        last=found.get("last"),
        counts=found.get("counts") or counts,
        progress_at=run.progress_at,
    )

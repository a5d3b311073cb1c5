"""REST API `/api/v1`: instruments, bars and actions, news, disclosures, analysis, reports,
jobs, costs."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from core.adjust import AdjustMode
from core.adjust import adjust as adjust_bars
from core.models import CorporateAction, Instrument
from core.storage import analyses, articles
from core.storage import bars as prices
from core.storage import disclosures as filings
from core.storage import reports as stored_reports
from core.storage.paging import After, Page
from serve_app.auth import require
from serve_app.cache import Cached, request_key
from serve_app.context import Ctx
from serve_app.errors import KEYED, ApiError, error_responses, uuid_or_404
from serve_app.news_items import Collapse, news_item, news_reader
from serve_app.params import NUL, Instant, in_range, no_nul_bytes, window
from serve_app.report_views import ReportList, ReportView
from serve_app.schemas import (
    BAR_FORMATS,
    Actions,
    Analysis,
    Bars,
    DisclosurePage,
    InstrumentList,
    NewsPage,
    json_response,
)


def read_router() -> APIRouter:
    """A router of `/api/v1` routes for keys with the `read` scope (NUL bytes refused), with
    the errors every keyed route can answer."""
    return APIRouter(
        prefix="/api/v1",
        dependencies=[Depends(require("read")), Depends(no_nul_bytes)],
        responses=error_responses(*KEYED, 422),
    )


router = read_router()
MAX_LIMIT = 100
PARQUET = "application/vnd.apache.parquet"
BAR_COLUMNS = ["ts", "open", "high", "low", "close", "volume", "provider", "partial"]


async def instrument_or_404(ctx: Ctx, instrument_id: str) -> Instrument:
    found = await prices.instrument(await ctx.pool(), instrument_id)
    if found is None:
        raise ApiError(404, "not_found", f"unknown instrument {instrument_id!r}")
    return found


def _cursor_encode(at: datetime, key: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode()


def _cursor_decode(cursor: str | None) -> After | None:
    if not cursor:
        return None
    try:
        at, key = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        when = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned") from None
    if when.tzinfo is None or not in_range(when) or NUL in key:  # not one we made
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned")
    return After(when, key)


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


async def cached_answer(
    request: Request,
    ctx: Ctx,
    tags: list[str],
    produce: Callable[[], Awaitable[Response]],
    variant: str = "",
) -> Response:
    """`produce()`'s response, or the cached copy of an earlier one for the same request.

    The key is the path, the query parameters the route declares and `variant` (the format
    bars are rendered in); only 200s are kept. Entries are tagged with what they were read
    from and dropped by the live events that change it (see `serve_app.cache`). Requests
    arriving while the same read runs on this replica wait for its answer.
    """
    if not ctx.cache.enabled:
        return await produce()
    key = request_key(request, variant)
    hit = await ctx.cache.get(key)
    if hit is None and key in ctx.cache.pending:  # the same read is running: share its answer
        hit = await asyncio.shield(ctx.cache.pending[key])
    if hit is not None:
        return Response(hit.body, media_type=hit.media_type, headers={"X-Cache": "hit"})
    shared: asyncio.Future[Cached | None] = asyncio.get_running_loop().create_future()
    ctx.cache.pending[key] = shared
    try:
        gens = await ctx.cache.generations(tags)
        response = await produce()
        if response.status_code == 200:
            value = Cached(bytes(response.body), response.media_type or "application/json")
            shared.set_result(value)
            await ctx.cache.put(key, tags, gens, value)
    finally:
        if not shared.done():
            shared.set_result(None)  # an error: each waiting request produces its own
        if ctx.cache.pending.get(key) is shared:
            del ctx.cache.pending[key]
    response.headers["X-Cache"] = "miss"
    return response


@router.get("/instruments", response_model=InstrumentList)
async def instruments(request: Request, ctx: Ctx) -> Response:
    """Every instrument of the watchlist."""

    async def produce() -> Response:
        found = await prices.instruments(await ctx.pool())
        return json_response(InstrumentList(instruments=[asdict(i) for i in found]))

    return await cached_answer(request, ctx, ["instruments"], produce)


ADJUST_HELP = (
    "`splits` (default): prices before a split's ex-date ÷ its ratio and volume × it, so a "
    "chart reads continuously across splits; `all`: also cash dividends, prices before an "
    "ex-date × (1 − amount / previous close); `none`: as traded, the stored truth."
)


@router.get(
    "/instruments/{instrument_id}/bars",
    response_model=Bars,
    responses={**BAR_FORMATS, **error_responses(400, 404)},
)
async def bars(
    request: Request,
    ctx: Ctx,
    instrument_id: str,
    start: Instant | None = None,
    end: Instant | None = None,
    interval: str = "1d",
    adjust: Annotated[AdjustMode, Query(description=ADJUST_HELP)] = "splits",
) -> Response:
    """Bars in [start, end) as JSON, CSV (`Accept: text/csv`) or Parquet.

    Bars are stored as traded, in the instrument's currency; `adjust` derives split- or
    split-and-dividend-adjusted prices from the stored actions on read (default `splits`).
    The JSON names `adjust` and lists the `actions` applied; `partial` marks a period that
    was still trading when fetched.
    """

    async def produce() -> Response:
        return await _bars(request, ctx, instrument_id, start, end, interval, adjust)

    tags = [f"instrument:{instrument_id}"]
    return await cached_answer(request, ctx, tags, produce, _format(request))


def _format(request: Request) -> str:
    accept = request.headers.get("accept", "")
    return "csv" if "text/csv" in accept else "parquet" if PARQUET in accept else "json"


async def _bars(
    request: Request,
    ctx: Ctx,
    instrument_id: str,
    start: datetime | None,
    end: datetime | None,
    interval: str,
    mode: str,
) -> Response:
    instrument = await instrument_or_404(ctx, instrument_id)
    start, end = window(start, end, timedelta(days=365))
    pool = await ctx.pool()
    traded = await prices.read_bars(pool, instrument_id, interval, start, end)
    actions = await prices.read_actions(pool, instrument_id) if mode != "none" else []
    closes = await prices.previous_closes(pool, instrument_id) if mode == "all" else {}
    result = adjust_bars(traded, actions, closes, mode, instrument.timezone)
    records = [{c: getattr(b, c) for c in BAR_COLUMNS} for b in result.bars]
    rendering = _format(request)
    if rendering == "csv":
        return Response(_csv(records), media_type="text/csv")
    if rendering == "parquet":
        return Response(_parquet(records), media_type=PARQUET)
    return json_response(
        Bars(
            instrument=instrument_id,
            interval=interval,
            currency=instrument.currency,
            adjust=mode,
            actions=[_action(a) for a in result.applied],
            notes=result.notes,
            bars=records,
        )
    )


def _action(action: CorporateAction) -> dict[str, Any]:
    return {
        "kind": action.kind,
        "ex_date": action.ex_date.isoformat(),
        "ratio": action.ratio,
        "amount": action.amount,
    }


@router.get(
    "/instruments/{instrument_id}/actions", response_model=Actions, responses=error_responses(404)
)
async def actions(ctx: Ctx, instrument_id: str) -> dict[str, Any]:
    """The instrument's splits and dividends, oldest first: `ratio` is new/old shares (4.0
    for a 4-for-1 split), `amount` the cash paid per share then, in `currency`."""
    instrument = await instrument_or_404(ctx, instrument_id)
    found = await prices.read_actions(await ctx.pool(), instrument_id)
    return {
        "instrument": instrument_id,
        "currency": instrument.currency,
        "actions": [{**_action(a), "provider": a.provider} for a in found],
    }


def _csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=BAR_COLUMNS)
    writer.writeheader()
    for r in records:
        writer.writerow({**r, "ts": r["ts"].isoformat()})
    return out.getvalue()


def _parquet(records: list[dict[str, Any]]) -> bytes:
    table = pa.Table.from_pylist(
        records,
        schema=pa.schema(
            [
                ("ts", pa.timestamp("us", tz="UTC")),
                *[(c, pa.float64()) for c in ("open", "high", "low", "close")],
                ("volume", pa.int64()),
                ("provider", pa.string()),
                ("partial", pa.bool_()),
            ]
        ),
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@router.get(
    "/instruments/{instrument_id}/news",
    response_model=NewsPage,
    responses=error_responses(400, 404),
)
async def news(
    ctx: Ctx, instrument_id: str, limit: Limit = 20, cursor: str | None = None,
    collapse: Collapse = None,
) -> dict[str, Any]:  # fmt: skip
    """Articles linked to the instrument, newest first; `next_cursor` pages on.
    `collapse=story`: one item per story, with its `sources` count and `urls`."""
    return await _keyset_page(
        ctx, instrument_id, cursor, limit, news_reader(collapse), "articles", "published_at",
        news_item,
    )  # fmt: skip


@router.get(
    "/instruments/{instrument_id}/disclosures",
    response_model=DisclosurePage,
    responses=error_responses(400, 404),
)
async def disclosures(
    ctx: Ctx, instrument_id: str, limit: Limit = 20, cursor: str | None = None
) -> dict[str, Any]:
    """Filings of the instrument, newest first; `next_cursor` pages on."""
    return await _keyset_page(
        ctx, instrument_id, cursor, limit, filings.filings_page, "disclosures", "filed_at",
        lambda d: {"id": d.provider_id, "provider": d.provider, "title": d.title,
                   "filer": d.filer, "url": d.url, "filed_at": d.filed_at},
    )  # fmt: skip


async def _keyset_page(
    ctx: Ctx,
    instrument_id: str,
    cursor: str | None,
    limit: int,
    read: Callable[[Any, str, After | None, int], Awaitable[Page[Any]]],
    name: str,
    at: str,
    item: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    # Keyset pagination on (time, id): the cursor names the last item shown.
    await instrument_or_404(ctx, instrument_id)
    after = _cursor_decode(cursor)
    found = await read(await ctx.pool(), instrument_id, after, limit)
    items = [item(row) for row in found.items]
    last = items[-1] if found.more and items else None
    next_cursor = _cursor_encode(last[at], last["id"]) if last else None
    return {name: [{**i, at: i[at].isoformat()} for i in items], "next_cursor": next_cursor}


@router.get(
    "/instruments/{instrument_id}/analysis",
    response_model=Analysis,
    responses=error_responses(404),
)
async def analysis(
    request: Request,
    ctx: Ctx,
    instrument_id: str,
    days: Annotated[int, Query(ge=1, le=3650)] = 30,
) -> Response:
    """The latest published report and the daily sentiment timeline."""

    async def produce() -> Response:
        # Only the fields the report holds: a claim's absent `kind` stays absent.
        found = Analysis.model_validate(await _analysis(ctx, instrument_id, days))
        return json_response(found, exclude_unset=True)

    return await cached_answer(request, ctx, [f"instrument:{instrument_id}"], produce)


async def _analysis(ctx: Ctx, instrument_id: str, days: int) -> dict[str, Any]:
    await instrument_or_404(ctx, instrument_id)
    pool = await ctx.pool()
    latest = await stored_reports.latest_published_id(pool, instrument_id)
    timeline = await analyses.daily_sentiment(pool, instrument_id, days)
    return {
        "instrument": instrument_id,
        "report": await _report(pool, latest) if latest else None,
        "timeline": [
            {"day": d.day.date().isoformat(), "sentiment": d.sentiment, "articles": d.articles}
            for d in timeline
        ],
    }


async def _report(pool: Any, report_id: Any) -> dict[str, Any] | None:
    found = await stored_reports.report_by_id(pool, report_id)
    if found is None:
        return None
    report = asdict(found)
    cited = await articles.links(pool, report["citations"])
    sources = {a.fingerprint: {"id": a.fingerprint, "title": a.title, "url": a.url}
               for a in cited}  # fmt: skip
    for part in ("positives", "concerns"):
        report[part] = [
            {**claim, "sources": [sources[c] for c in claim["citations"] if c in sources]}
            for claim in report[part]
        ]
    report["citations"] = [sources[c] for c in report["citations"] if c in sources]
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in report.items()} | {
        "id": str(report["id"])
    }


@router.get("/reports", response_model=ReportList)
async def reports(ctx: Ctx, instrument: str | None = None, limit: Limit = 20) -> dict[str, Any]:
    """Published reports, newest first (optionally of one instrument)."""
    found = await stored_reports.published(await ctx.pool(), instrument, limit)
    return {
        "reports": [
            {**asdict(r), "id": str(r.id), "published_at": r.published_at.isoformat()}
            for r in found
        ]
    }


@router.get("/reports/{report_id}", response_model=ReportView, responses=error_responses(404))
async def report(ctx: Ctx, report_id: str) -> dict[str, Any]:
    """One report, its citations resolved to article titles and URLs."""
    found = await _report(await ctx.pool(), uuid_or_404(report_id, "report"))
    if found is None:
        raise ApiError(404, "not_found", f"no report {report_id!r}")
    return found

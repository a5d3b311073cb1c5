"""REST API `/api/v1` for operators: job runs and LLM costs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from serve_app.auth import require
from serve_app.context import Ctx
from serve_app.errors import ApiError, uuid_or_404

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require("read"))])


def _run(row: Any) -> dict[str, Any]:
    run = dict(row)
    run["id"] = str(run["id"])
    for key in ("started_at", "finished_at"):
        run[key] = run[key].isoformat() if run[key] else None
    return run


@router.get("/jobs")
async def jobs(
    ctx: Ctx, kind: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> dict[str, Any]:
    """Recent job runs (collect, backfill, analyze), newest first."""
    pool = await ctx.pool()
    rows = await pool.fetch(
        "SELECT * FROM job_runs WHERE ($1::text IS NULL OR kind = $1) "
        "ORDER BY started_at DESC LIMIT $2",
        kind,
        limit,
    )
    return {"jobs": [_run(r) for r in rows]}


@router.get("/jobs/{run_id}")
async def job(ctx: Ctx, run_id: str) -> dict[str, Any]:
    """One job run: status, progress counts, error."""
    key = uuid_or_404(run_id, "job run")
    row = await (await ctx.pool()).fetchrow("SELECT * FROM job_runs WHERE id = $1", key)
    if row is None:
        raise ApiError(404, "not_found", f"no job run {run_id!r}")
    return _run(row)


@router.get("/costs")
async def costs(
    ctx: Ctx,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> dict[str, Any]:
    """LLM spend per day, model and endpoint over [from, to], and today's budget."""
    to = to or datetime.now(UTC).date()
    from_ = from_ or to - timedelta(days=30)
    if from_ > to:
        raise ApiError(400, "invalid_request", "`from` must not be after `to`")
    pool = await ctx.pool()
    rows = await pool.fetch(
        """SELECT (at AT TIME ZONE 'UTC')::date AS day, model, endpoint, count(*) AS calls,
                  sum(tokens_in)::bigint AS tokens_in, sum(tokens_out)::bigint AS tokens_out,
                  sum(cost_micro)::bigint AS cost_micro
           FROM llm_usage WHERE (at AT TIME ZONE 'UTC')::date BETWEEN $1 AND $2
           GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
        from_,
        to,
    )
    budget = await pool.fetchrow(
        "SELECT limit_micro, reserved_micro, spent_micro FROM llm_budget WHERE day = $1",
        datetime.now(UTC).date(),
    )
    limit = budget["limit_micro"] if budget else round(ctx.settings.pricing.budget.daily_usd * 1e6)
    spent = budget["spent_micro"] + budget["reserved_micro"] if budget else 0
    return {
        "from": from_.isoformat(),
        "to": to.isoformat(),
        "spend": [
            {**dict(r), "day": r["day"].isoformat(), "cost_usd": r["cost_micro"] / 1e6}
            for r in rows
        ],
        "budget": {"daily_usd": limit / 1e6, "left_usd": (limit - spent) / 1e6},
    }

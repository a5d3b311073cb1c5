"""`GET /api/v1/instruments/{id}/fundamentals`: financial statement figures (read scope).

A router of its own (`serve_app.routes` is at its size limit), with the same prefix, scope
and errors as the other instrument routes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Query

from core.storage import fundamentals
from serve_app.context import Ctx
from serve_app.errors import ApiError, error_responses
from serve_app.params import Day
from serve_app.routes import instrument_or_404, read_router
from serve_app.schemas import Fundamentals

router = read_router()


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


@router.get(
    "/instruments/{instrument_id}/fundamentals",
    response_model=Fundamentals,
    responses=error_responses(400, 404),
)
async def instrument_fundamentals(
    ctx: Ctx,
    instrument_id: str,
    statement: Literal["income", "balance", "cashflow"] | None = None,
    from_: Annotated[Day | None, Query(alias="from", description="first period end")] = None,
    to: Annotated[Day | None, Query(description="last period end (inclusive)")] = None,
    versions: Literal["latest", "all"] = "latest",
) -> dict[str, Any]:
    """Statement figures whose period ends in [from, to], oldest period first: the latest
    version of each (`versions=latest`), or every version, restatements included (`all`)."""
    if from_ is not None and to is not None and from_ > to:
        raise ApiError(400, "invalid_request", "`from` must not be after `to`")
    await instrument_or_404(ctx, instrument_id)
    found = await fundamentals.read_facts(
        await ctx.pool(), instrument_id, statement=statement, start=from_, end=to,
        all_versions=versions == "all",
    )  # fmt: skip
    return {
        "instrument": instrument_id,
        "versions": versions,
        "facts": [
            {
                "period": s.fact.period,
                "period_end": s.fact.period_end,
                "statement": s.fact.statement,
                "account": s.fact.account,
                "consolidated": s.fact.consolidated,
                "value": _number(s.fact.value),
                "currency": s.fact.currency,
                "provider": s.fact.provider,
                "report_id": s.fact.report_id,
                "version": s.version,
                "fetched_at": s.fetched_at,
            }
            for s in found
        ],
    }

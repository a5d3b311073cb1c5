"""REST API `/api/v1` for operators: job runs, backfills, providers, LLM costs and the weekly
reports."""

import asyncio
import hashlib
import re
import shlex
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from core.jobs import Backfill
from core.jobs import BackfillRequest as BackfillJob
from core.redact import scrub, scrub_command
from core.storage import costs as llm_costs
from core.storage import job_runs, llm_budget
from core.storage.api_keys import KeyInfo
from core.weekly_report import NAME_PATTERN, list_reports, report_path
from serve_app import ops_schemas as schemas
from serve_app.auth import require
from serve_app.context import Ctx
from serve_app.errors import WITH_BODY, ApiError, error_responses, unavailable
from serve_app.params import Day
from serve_app.routes import read_router

router = read_router()
PROVIDERS_TIMEOUT_S = 30.0  # the first call may create the router and its actors
JOBS_TIMEOUT_S = 10.0  # one Jobs API call (the client's first includes a version check)


def _run(found: job_runs.JobRun) -> dict[str, Any]:
    run = asdict(found)
    run["id"] = str(run["id"])
    for key in ("started_at", "finished_at"):
        run[key] = run[key].isoformat() if run[key] else None
    return run


OWN_JOB_MODULE = re.compile(r"jobs\.[a-z_]+")
SHELL_OPERATOR_CHARS = set("();<>|&")


def stockray_job(entrypoint: str | None) -> bool:
    """Whether a Ray job is one stockray submits: `python -m jobs.<name> ...` (the scheduler,
    the collector and `POST /jobs/backfill` all do); other jobs on the cluster stay unseen."""
    lexer = shlex.shlex(entrypoint or "", posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        args = list(lexer)
    except ValueError:
        return False
    if any(arg and set(arg) <= SHELL_OPERATOR_CHARS for arg in args):  # `... && other`
        return False
    return (
        len(args) >= 3 and args[:2] == ["python", "-m"] and bool(OWN_JOB_MODULE.fullmatch(args[2]))
    )


@router.get("/jobs", response_model=schemas.JobList)
async def jobs(
    ctx: Ctx, kind: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> dict[str, Any]:
    """Recent job runs (collect, backfill, analyze), newest first."""
    found = await job_runs.recent_runs(await ctx.pool(), kind, limit)
    return {"jobs": [_run(r) for r in found]}


@router.get(
    "/jobs/{job_id}",
    response_model=schemas.JobRun | schemas.RayJob,
    responses=error_responses(404),
)
async def job(ctx: Ctx, job_id: str) -> dict[str, Any]:
    """One job: a `job_runs` id, or a Ray job id (e.g. from `POST /jobs/backfill`).

    A Ray job id answers with Ray's status and the run it recorded (progress, counts) once
    it has started one; only stockray's own jobs, and their secret-looking arguments masked.
    """
    pool = await ctx.pool()
    try:
        run_id = uuid.UUID(job_id)
    except ValueError:
        run_id = None
    if run_id is not None:
        found = await job_runs.run_by_id(pool, run_id)
        if found is None:
            raise ApiError(404, "not_found", f"no job run {job_id!r}")
        return _run(found)
    try:
        info = await _jobs_api(ctx, lambda jobs: jobs.get_job_info(job_id))
    except RuntimeError as exc:  # the client's "Request failed with status code N: ..."
        if "status code 404" in str(exc):  # Ray's answer for an unknown submission id
            raise ApiError(404, "not_found", f"no job {job_id!r}") from None
        raise unavailable("jobs_unavailable", "the Ray Jobs API failed") from exc
    if not stockray_job(info.entrypoint):  # another's job: as unknown as a missing one
        raise ApiError(404, "not_found", f"no job {job_id!r}")
    trace_id = (info.metadata or {}).get("trace_id")
    recorded = await job_runs.latest_run_of_trace(pool, trace_id)
    return {
        "job_id": job_id,
        "status": str(info.status.value if hasattr(info.status, "value") else info.status),
        "message": scrub(info.message) if info.message else info.message,  # Ray quotes logs
        "entrypoint": scrub_command(info.entrypoint),  # its arguments may hold secrets
        "trace_id": trace_id,
        "run": _run(recorded) if recorded else None,
    }


@router.get("/costs", response_model=schemas.Costs, responses=error_responses(400))
async def costs(
    ctx: Ctx,
    from_: Annotated[Day | None, Query(alias="from")] = None,
    to: Day | None = None,
) -> dict[str, Any]:
    """LLM spend per day, model and endpoint over [from, to], and today's budget."""
    to = to or datetime.now(UTC).date()
    from_ = from_ or to - timedelta(days=30)
    if from_ > to:
        raise ApiError(400, "invalid_request", "`from` must not be after `to`")
    pool = await ctx.pool()
    rows = await llm_costs.spend_by_day(pool, from_, to)
    budget = await llm_budget.day_row(pool, datetime.now(UTC).date())
    limit = budget.limit_micro if budget else round(ctx.settings.pricing.budget.daily_usd * 1e6)
    spent = budget.spent_micro + budget.reserved_micro if budget else 0
    return {
        "from": from_.isoformat(),
        "to": to.isoformat(),
        "spend": [
            {**asdict(r), "day": r.day.isoformat(), "cost_usd": r.cost_micro / 1e6} for r in rows
        ],
        "budget": {"daily_usd": limit / 1e6, "left_usd": (limit - spent) / 1e6},
    }


class BackfillRequest(Backfill):
    """What `python -m jobs.backfill` takes: tickers (or watchlist groups), days, what to fetch
    (`core.jobs.Backfill`, its days strict ISO dates)."""

    start: Day
    end: Day


@router.post(
    "/jobs/backfill",
    status_code=202,
    response_model=schemas.BackfillSubmitted,
    responses={
        200: {"model": schemas.BackfillSubmitted, "description": "already submitted"},
        **error_responses(*WITH_BODY, 403),
    },
)
async def submit_backfill(
    body: BackfillRequest,
    ctx: Ctx,
    response: Response,
    key: Annotated[KeyInfo, Depends(require("admin"))],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Submit a backfill as a Ray Job (admin); poll `GET /jobs/{job_id}` for its progress.

    With an `Idempotency-Key` header, a retried request returns the job it submitted first.
    """
    _check_backfill(ctx, body)
    trace_id = uuid.uuid4().hex[:16]
    entrypoint = BackfillJob.of(body, trace_id=trace_id).to_entrypoint()
    submission_id = None
    if idempotency_key:
        digest = hashlib.sha256(f"{key.id}|{idempotency_key}".encode()).hexdigest()[:20]
        submission_id = f"api-backfill-{digest}"
    metadata = {"trigger": "api", "trace_id": trace_id, "key": key.name}
    try:
        job_id = await _jobs_api(
            ctx,
            lambda jobs: jobs.submit_job(
                entrypoint=entrypoint, submission_id=submission_id, metadata=metadata
            ),
        )
    except RuntimeError as exc:
        if submission_id is None or "already exists" not in str(exc):
            raise unavailable("jobs_unavailable", "the Ray Jobs API refused the job") from exc
        response.status_code = 200
        info = await _jobs_api(ctx, lambda jobs: jobs.get_job_info(submission_id))
        return {"job_id": submission_id, "trace_id": (info.metadata or {}).get("trace_id")}
    return {"job_id": job_id, "trace_id": trace_id}


def _check_backfill(ctx: Ctx, body: BackfillRequest) -> None:
    # The job's own checks (`Backfill.problems`), every one listed; the job runs them again
    # against the providers the router enables and exits 2 with the first.
    problems = body.problems(ctx.settings, datetime.now(UTC))
    if problems:
        details = [{"field": p.field, "problem": p.message} for p in problems]
        raise ApiError(422, "invalid_request", "backfill request is not valid", details)


async def _jobs_api(ctx: Ctx, call: Callable[[Any], Any]) -> Any:
    # The Jobs API client blocks on HTTP (its constructor too): keep it off the event loop.
    # Unreachable (requests' errors are OSErrors) or slow: a 503; the thread ends on its own.
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(lambda: call(ctx.jobs_client())), JOBS_TIMEOUT_S
        )
    except (OSError, TimeoutError) as exc:
        raise unavailable(
            "jobs_unavailable", f"the Ray Jobs API did not answer: {type(exc).__name__}"
        ) from None


@router.get("/providers", response_model=schemas.Providers, response_model_exclude_unset=True)
async def providers(ctx: Ctx) -> dict[str, Any]:
    """Per provider: plan, circuit state, quota (`exhausted`, `reset_at`), rate-limit budget
    left, last error (never a key), or why it is off."""
    from actors.providers import router_handle

    try:
        health = await asyncio.wait_for(router_handle().health.remote(), PROVIDERS_TIMEOUT_S)
    except Exception as exc:  # the router is down or slow: say so in the one error shape
        raise ApiError(
            503, "providers_unavailable", f"provider router did not answer: {type(exc).__name__}"
        ) from None
    return {"providers": health}


class LLMEndpointHealth(BaseModel):
    """One LLM endpoint: how it takes a schema now and as configured, and why it changed."""

    endpoint: str
    structured: str = Field(description="structured-output mode in use now")
    configured: str = Field(description="the mode `llm.yaml` gives")
    downgrades: list[str] = Field(description="each step-down: `from -> to: refusal`")
    cooling_s: float = Field(description="seconds until a cooled-down endpoint is tried again")


class LLMBudget(BaseModel):
    """Today's LLM budget in USD."""

    model_config = ConfigDict(extra="allow")

    limit_usd: float | None = None
    reserved_usd: float | None = None
    spent_usd: float | None = None
    left_usd: float | None = None


class LLMHealth(BaseModel):
    """The LLM gateway: endpoints (with structured-output step-downs) and today's budget."""

    enabled: bool
    endpoints: list[LLMEndpointHealth]
    budget: LLMBudget | None


@router.get("/llm", response_model=LLMHealth)
async def llm_health(ctx: Ctx) -> LLMHealth:
    """The LLM gateway's endpoints: structured-output mode in use and configured, every
    step-down after an endpoint refused a `response_format`, cooldowns, today's budget."""
    from actors.llm import gateway_handle

    try:
        health = await asyncio.wait_for(gateway_handle().health.remote(), PROVIDERS_TIMEOUT_S)
    except Exception as exc:  # the gateway actor is down or slow: a 503, in the error shape
        raise ApiError(
            503, "llm_unavailable", f"LLM gateway did not answer: {type(exc).__name__}"
        ) from None
    return LLMHealth.model_validate(health)


REPORT_PAGE_HEADERS = {
    # The page is self-contained: its own inline style, SVG charts, nothing else loaded.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-cache",
}
Admin = Annotated[KeyInfo, Depends(require("admin"))]


@router.get("/ops/reports", response_model=schemas.WeeklyReports, responses=error_responses(403))
async def weekly_reports(ctx: Ctx, _key: Admin) -> dict[str, Any]:
    """The weekly operations reports written under the data dir, newest week first (admin)."""
    found = await asyncio.to_thread(list_reports, ctx.settings.home)
    return {"reports": [{**asdict(f), "url": f"/api/v1/ops/reports/{f.name}"} for f in found]}


@router.get(
    "/ops/reports/{name}",
    response_class=Response,
    responses={**schemas.WEEKLY_REPORT_HTML, **error_responses(403, 404)},
)
async def weekly_report(
    ctx: Ctx, _key: Admin, name: Annotated[str, Path(pattern=f"^{NAME_PATTERN.pattern}$")]
) -> Response:
    """One weekly report's HTML page (admin); `name` as `GET /ops/reports` lists it."""
    path = report_path(ctx.settings.home, name)
    try:
        page = await asyncio.to_thread(path.read_bytes) if path else None
    except FileNotFoundError:
        page = None
    if page is None:
        raise ApiError(404, "not_found", f"no weekly report {name!r}")
    return Response(page, media_type="text/html; charset=utf-8", headers=REPORT_PAGE_HEADERS)

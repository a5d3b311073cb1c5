"""Response models of the operators' routes (`serve_app/ops_routes.py`): job runs, a
submitted backfill, LLM costs and provider health. Conventions as in `serve_app.schemas`."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

from core.storage import costs, job_runs
from serve_app.schemas import IsoDay, IsoTime, Number


@dataclass(frozen=True)
class JobRun(job_runs.JobRun):
    """A recorded job run (collect, backfill, analyze) with its counts and progress."""

    # The stored row (`job_runs.JobRun`), its id and times as the answer writes them.

    id: str
    status: Annotated[str, Field(description="pending, running, succeeded, failed or cancelled")]
    started_at: IsoTime
    finished_at: IsoTime | None
    progress_at: IsoTime | None


class JobList(BaseModel):
    """Recent job runs, newest first."""

    jobs: list[JobRun]


class RayJob(BaseModel):
    """A Ray job of stockray's: Ray's status and the run it recorded once it started one."""

    job_id: str
    status: str = Field(description="Ray's job status, e.g. PENDING, RUNNING, SUCCEEDED")
    message: str | None
    entrypoint: str = Field(description="the command, secret-looking arguments masked")
    trace_id: str | None
    run: JobRun | None


class BackfillSubmitted(BaseModel):
    """The submitted backfill's Ray job id; poll `GET /jobs/{job_id}`."""

    job_id: str
    trace_id: str | None


@dataclass(frozen=True)
class Spend(costs.DaySpend):
    """LLM spend of one day, model and endpoint."""

    # The stored sums (`costs.DaySpend`) and their cost in USD.

    cost_usd: float


class CostBudget(BaseModel):
    """Today's LLM budget in USD, and what is left of it."""

    daily_usd: float
    left_usd: float


class Costs(BaseModel):
    """LLM spend per day, model and endpoint over [from, to], and today's budget."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: IsoDay = Field(alias="from")
    to: IsoDay
    spend: list[Spend]
    budget: CostBudget


class Circuit(BaseModel):
    """A provider's circuit breaker."""

    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int
    opened_at: float | None = Field(description="monotonic clock of the opening, if open")
    retry_in_s: float
    probe_in_flight: bool
    failure_threshold: int
    cooldown_s: float
    reason: str | None = Field(description="`quota` when a spent quota holds it open")


class Quota(BaseModel):
    """Whether a spent quota holds the circuit open, and until when."""

    exhausted: bool
    reset_at: IsoTime | None


class LastError(BaseModel):
    """The provider's last failure."""

    at: IsoTime
    type: str
    message: str


class ProviderHealth(BaseModel):
    """One provider: plan, circuit, quota, rate-limit budget left (per window label, plus
    `paused_s`), last success and error, counts; a disabled one only says why (`reason`),
    one whose actor did not answer names the `error`."""

    provider: str
    enabled: bool
    reason: str | None = None
    error: str | None = None
    plan: str | None = None
    circuit: Circuit | None = None
    quota: Quota | None = None
    budget: dict[str, Number] | None = None
    last_success_at: IsoTime | None = None
    last_error: LastError | None = None
    counts: dict[str, int] | None = None


class Providers(BaseModel):
    """Every configured provider's health, by name."""

    providers: dict[str, ProviderHealth]


class WeeklyReportFile(BaseModel):
    """A weekly report written by `jobs.weekly_report`: its file, the UTC days it covers,
    when it was written, its size, and where to read it."""

    name: str = Field(description="`weekly-<end>.html`")
    start: IsoDay | None = Field(description="first day covered (None if its numbers are lost)")
    end: IsoDay
    created_at: IsoTime
    bytes: int
    url: str = Field(description="`GET` it (admin key) for the HTML page")


class WeeklyReports(BaseModel):
    """The weekly reports written, newest week first."""

    reports: list[WeeklyReportFile]


WEEKLY_REPORT_HTML: dict[int | str, dict] = {
    200: {
        "description": "the report: one self-contained HTML page (charts inline as SVG)",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}
"""`GET /ops/reports/{name}`'s answer (its errors are JSON, in the one error shape)."""

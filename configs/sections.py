"""Typed models of the YAML files in `configs/`, one top-level model per file."""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.models import DEFAULT_CAPABILITIES, Capability, Instrument


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(value: Any, keys: list[str], what: str) -> Any:
    dupes = sorted(k for k, n in Counter(keys).items() if n > 1)
    if dupes:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(dupes)}")
    return value


# --- watchlist.yaml -------------------------------------------------------------------------


class InstrumentConfig(_Strict):
    """One watchlist entry."""

    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9.\-^=]+$")]
    name: str
    exchange: str
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    timezone: str
    symbols: dict[str, str] = {}
    aliases: list[Annotated[str, Field(min_length=1)]] = []  # other names news uses (matching)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone") from exc
        return value

    def to_instrument(self) -> Instrument:
        """The domain model of this entry."""
        return Instrument(**self.model_dump(exclude={"aliases"}), aliases=tuple(self.aliases))


class Watchlist(_Strict):
    """`watchlist.yaml`: instruments and named groups of them."""

    instruments: Annotated[list[InstrumentConfig], Field(min_length=1)]
    groups: dict[str, list[str]] = {}

    @field_validator("instruments")
    @classmethod
    def _unique_ids(cls, value: list[InstrumentConfig]) -> list[InstrumentConfig]:
        return _unique(value, [i.id for i in value], "instrument ids")

    @field_validator("groups")
    @classmethod
    def _known_members(cls, value: dict[str, list[str]], info: ValidationInfo) -> dict:
        ids = {i.id for i in info.data.get("instruments", [])}
        for group, members in value.items():
            unknown = [m for m in members if m not in ids]
            if unknown:
                raise ValueError(f"group {group!r} names unknown instruments: {', '.join(unknown)}")
        return value

    _by_id: dict[str, InstrumentConfig] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any) -> None:
        """Index the entries by id (`get` is called per instrument per task)."""
        self._by_id = {i.id: i for i in self.instruments}

    def get(self, instrument_id: str) -> InstrumentConfig | None:
        """The entry with this canonical id, or None."""
        return self._by_id.get(instrument_id)

    def __str__(self) -> str:
        return f"{len(self.instruments)} instruments; groups: {', '.join(self.groups) or 'none'}"


# --- providers.yaml -------------------------------------------------------------------------


class RateLimit(_Strict):
    """At most `requests` per `per_s` seconds."""

    requests: PositiveInt
    per_s: PositiveFloat


class RetryPolicy(_Strict):
    """Exponential backoff with jitter, bounded by attempts and a total deadline."""

    max_attempts: PositiveInt = 3
    base_delay_s: PositiveFloat = 0.5
    max_delay_s: PositiveFloat = 10
    deadline_s: PositiveFloat = 30


class CircuitPolicy(_Strict):
    """Open after `failure_threshold` consecutive failures; half-open after `cooldown_s`."""

    failure_threshold: PositiveInt = 5
    cooldown_s: PositiveFloat = 30


class PlanConfig(_Strict):
    """The key's plan: a tier the provider's client knows (its `PLANS`, e.g. AV free/premium)."""

    tier: Annotated[str, Field(min_length=1)]


class FeedConfig(_Strict):
    """One RSS/Atom feed of the `rss` provider: URL, language, the instruments it may
    concern (`all` or ids) and keywords an item must name to count (none: every item)."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+")]
    language: Annotated[str, Field(pattern=r"^[a-z]{2}$")] = "en"
    instruments: Literal["all"] | Annotated[list[str], Field(min_length=1)] = "all"
    keywords: list[Annotated[str, Field(min_length=1)]] = []


class ProviderConfig(_Strict):
    """One data provider's endpoint, limits and plan (None: the client's default tier)."""

    base_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+")]
    needs_key: bool = True
    enabled: bool = True
    timeout_s: PositiveFloat = 10
    limits: list[RateLimit] = []
    retry: RetryPolicy = RetryPolicy()
    circuit: CircuitPolicy = CircuitPolicy()
    plan: PlanConfig | None = None
    feeds: list[FeedConfig] = []  # rss only
    per_host: RateLimit | None = None  # rss only: feeds on one host share this limit


class Providers(_Strict):
    """`providers.yaml`: providers and the failover order per capability."""

    providers: dict[str, ProviderConfig]
    capabilities: dict[Capability, list[str]]

    @field_validator("providers")
    @classmethod
    def _known_plans(cls, value: dict[str, ProviderConfig]) -> dict[str, ProviderConfig]:
        from core.providers import CLIENTS  # here: loading settings needs no HTTP stack

        for name, config in value.items():
            if config.plan is None or name not in CLIENTS:
                continue
            tiers = sorted(getattr(CLIENTS[name], "PLANS", None) or {})
            if config.plan.tier not in tiers:
                known = ", ".join(tiers) if tiers else "none (omit `plan`)"
                raise ValueError(f"{name}: unknown plan tier {config.plan.tier!r}; known: {known}")
        return value

    @field_validator("capabilities")
    @classmethod
    def _known_providers(cls, value: dict[Capability, list[str]], info: ValidationInfo) -> dict:
        known = info.data.get("providers", {})
        for capability, names in value.items():
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ValueError(
                    f"capability {capability.value!r} names unknown providers: {', '.join(unknown)}"
                )
        return value


# --- schedules.yaml -------------------------------------------------------------------------

_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


class Schedule(_Strict):
    """One scheduled job: what, for whom, and how often. Collect and analyze name
    `tickers` or a `group`; the maintenance jobs (weekly_report, retention, basebackup)
    name neither."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")]
    job: Literal["collect", "analyze", "weekly_report", "retention", "basebackup"] = "collect"
    tickers: list[str] | None = None
    group: str | None = None
    capabilities: Annotated[list[Capability], Field(min_length=1)] = list(DEFAULT_CAPABILITIES)
    window: Annotated[str, Field(pattern=r"^[1-9]\d*[mhd]$")] = "24h"  # for job: analyze
    interval_s: PositiveFloat | None = None
    cron: str | None = None
    jitter_s: Annotated[float, Field(ge=0)] = 0
    enabled: bool = True

    @model_validator(mode="after")
    def _one_of_each(self) -> Schedule:
        if self.job not in ("collect", "analyze"):
            if self.tickers is not None or self.group is not None:
                raise ValueError(f"job {self.job} names no `tickers` or `group`")
        elif (self.tickers is None) == (self.group is None):
            raise ValueError("give exactly one of `tickers` or `group`")
        if (self.interval_s is None) == (self.cron is None):
            raise ValueError("give exactly one of `interval_s` or `cron`")
        if self.cron is not None:
            fields = self.cron.split()
            if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
                raise ValueError(f"cron {self.cron!r} is not a five-field cron expression")
        return self


class Schedules(_Strict):
    """`schedules.yaml`."""

    schedules: list[Schedule] = []

    @field_validator("schedules")
    @classmethod
    def _unique_names(cls, value: list[Schedule]) -> list[Schedule]:
        return _unique(value, [s.name for s in value], "schedule names")


# --- pricing.yaml ---------------------------------------------------------------------------


class ModelPrice(_Strict):
    """USD per million input and output tokens."""

    input_per_mtok: Annotated[float, Field(ge=0)]
    output_per_mtok: Annotated[float, Field(ge=0)]


class Budget(_Strict):
    """Daily and per-call LLM spending ceilings in USD."""

    daily_usd: Annotated[float, Field(ge=0)]
    per_call_usd: Annotated[float, Field(ge=0)]


class Pricing(_Strict):
    """`pricing.yaml`."""

    models: dict[str, ModelPrice] = {}
    budget: Budget


# --- llm.yaml -------------------------------------------------------------------------------


class LlmEndpoint(_Strict):
    """One OpenAI-compatible endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, the sim)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")]
    base_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+")]
    model: str
    context_window: PositiveInt = 8192
    rpm: PositiveInt = 60
    tpm: PositiveInt | None = None
    max_concurrency: PositiveInt = 4
    # How the endpoint takes a schema, strongest first: OpenAI/vLLM `json_schema`, llama.cpp's
    # server `json_object_schema`, plain `json_object`, or `none` (prompt and validate).
    structured: Literal["json_schema", "json_object_schema", "json_object", "none"] = "json_schema"
    timeout_s: PositiveFloat = 60

    @model_validator(mode="before")
    @classmethod
    def _json_schema_alias(cls, data: Any) -> Any:
        """The deprecated `json_schema: true|false` means `structured: json_schema|json_object`."""
        if isinstance(data, dict) and "json_schema" in data:
            data = dict(data)
            flag = data.pop("json_schema")
            data.setdefault("structured", "json_schema" if flag else "json_object")
        return data


class LlmConfig(_Strict):
    """`llm.yaml`: endpoints in priority order (keys: STOCKRAY_LLM_KEYS__<NAME>)."""

    endpoints: list[LlmEndpoint] = []
    retry: RetryPolicy = RetryPolicy()
    cooldown_s: PositiveFloat = 30

    @field_validator("endpoints")
    @classmethod
    def _unique_names(cls, value: list[LlmEndpoint]) -> list[LlmEndpoint]:
        return _unique(value, [e.name for e in value], "endpoint names")


# --- serve.yaml -----------------------------------------------------------------------------


class HttpOptions(BaseModel):
    """Where Serve's HTTP proxy listens."""

    model_config = ConfigDict(extra="allow", frozen=True)

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000


class ServeApplication(BaseModel):
    """One Serve application; other keys pass through to Ray Serve unchanged."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    route_prefix: str = "/"
    import_path: Annotated[str, Field(pattern=r"^[\w.]+:[\w.]+$")]


class ServeConfig(BaseModel):
    """`serve.yaml`: a Ray Serve config file (the format `serve deploy` takes)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    proxy_location: Literal["HeadOnly", "EveryNode", "Disabled"] = "HeadOnly"
    http_options: HttpOptions = HttpOptions()
    applications: Annotated[list[ServeApplication], Field(min_length=1)]

    def to_ray(self, host: str, port: int) -> dict[str, Any]:
        """The config as Ray Serve takes it, listening on `host:port`."""
        data = self.model_dump(mode="json")
        data["http_options"] = {**data["http_options"], "host": host, "port": port}
        return data

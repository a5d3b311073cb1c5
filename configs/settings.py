"""The one settings object: `STOCKRAY_*` environment (and `.env`) plus the YAML files."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from configs.alert_settings import ALERT_SECRETS, AlertSettings
from configs.doctor_settings import DoctorSettings
from configs.errors import ConfigError, shown_path
from configs.groups import GROUP_NAME, effective_watchlist
from configs.pitr_settings import PitrSettings
from configs.retention_settings import RetentionSettings
from configs.sections import (
    LlmConfig,
    Pricing,
    Providers,
    Schedules,
    ServeConfig,
    Watchlist,
)

PACKAGE_CONFIG_DIR = Path(__file__).resolve().parent
SECTIONS: dict[str, type[BaseModel]] = {
    "watchlist": Watchlist,
    "providers": Providers,
    "schedules": Schedules,
    "pricing": Pricing,
    "serve": ServeConfig,
    "llm": LlmConfig,
}
Port = Annotated[int, Field(ge=1, le=65535)]
CHAT_USD_PER_KEY_PER_DAY = 0.50  # a key's default share of the daily LLM budget for chat


class Settings(
    AlertSettings, DoctorSettings, PitrSettings, RetentionSettings
):  # configs/*_settings.py
    """Everything stockray reads at start. Secrets are `SecretStr` and never printed."""

    model_config = SettingsConfigDict(
        env_prefix="STOCKRAY_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    home: Path = Field(Path("var"), description="Stack data dir: embedded Postgres, lake, state.")
    config_dir: Path = Field(PACKAGE_CONFIG_DIR, description="Folder holding the YAML files.")
    database_url: SecretStr | None = Field(
        None, description="PostgreSQL URL; unset = embedded Postgres under the data dir."
    )
    redis_url: SecretStr | None = Field(
        None, description="Redis URL; unset = Ray actors serve dedupe, limits and events."
    )
    ray_address: str | None = Field(
        None,
        validation_alias=AliasChoices("RAY_ADDRESS", "STOCKRAY_RAY_ADDRESS"),
        description="Existing Ray cluster to use; unset = `up` starts a local head.",
    )
    ray_port: Port = Field(6379, description="GCS port of the head that `up` starts.")
    ray_client_port: Port = Field(10001, description="Ray Client server port (keep < 10002).")
    ray_metrics_port: Port = Field(8266, description="Port of Ray's Prometheus metrics export.")
    ray_agent_port: Port = Field(52365, description="Ray dashboard agent HTTP port.")
    ray_temp_dir: Path | None = Field(None, description="Ray's temp/session root (Ray: /tmp/ray).")
    ray_num_cpus: Annotated[int, Field(ge=1)] | None = Field(
        None, description="CPUs the head offers Ray (default: all)."
    )
    dashboard_host: str = Field("127.0.0.1", description="Bind address of the Ray dashboard.")
    dashboard_port: Port = Field(8265, description="Ray dashboard and Jobs API port.")
    api_host: str | None = Field(None, description="Serve HTTP host; unset = serve.yaml's.")
    api_port: Port | None = Field(None, description="Serve HTTP port; unset = serve.yaml's.")
    api_rate_limit: Annotated[int, Field(ge=0)] = Field(
        600, description="Requests per minute per API key (per replica without Redis); 0 = off."
    )
    api_auth_failures_per_minute: Annotated[int, Field(ge=0)] = Field(
        20,
        description="Failed key attempts per key prefix and per client address in any 60 s "
        "before they get 429 without a check; 0 = off.",
    )
    api_max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        65536, description="Largest request body the API reads (413 beyond), checked after the key."
    )
    api_cache_ttl_s: Annotated[float, Field(ge=0)] = Field(
        30, description="Longest a cached hot read lives (events invalidate sooner); 0 = off."
    )
    api_cache_max_bytes: Annotated[int, Field(ge=1024)] = Field(
        32 * 1024 * 1024,
        description="Bytes of cached bodies a replica keeps (least recently used go first).",
    )
    db_command_timeout_s: Annotated[float, Field(gt=0)] = Field(
        10, description="Longest one API query may run before it is cancelled (503)."
    )
    db_acquire_timeout_s: Annotated[float, Field(gt=0)] = Field(
        5, description="Longest a request waits for a pooled Postgres connection (503)."
    )
    redis_timeout_s: Annotated[float, Field(gt=0)] = Field(
        1, description="Longest one Redis call may take before the replica's fallback serves."
    )
    ws_max_rules: Annotated[int, Field(ge=1)] = Field(
        100, description="Subscriptions one WebSocket (and one key's stored set) may hold."
    )
    ws_max_sockets_per_key: Annotated[int, Field(ge=0)] = Field(
        20, description="Open WebSockets per API key on one replica; 0 = off."
    )
    ws_key_recheck_s: Annotated[float, Field(gt=0)] = Field(
        30, description="How often a replica re-checks the keys of its open WebSockets."
    )
    chat_usd_per_key_per_day: Annotated[float, Field(ge=0)] = Field(
        CHAT_USD_PER_KEY_PER_DAY,
        description="LLM spend (USD) one API key's chat may use per UTC day, unless the key "
        "has its own (`stockray keys set-quota`); 0 = extractive answers only.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Origins allowed by CORS, as JSON: ["https://app.example"]; empty = none.',
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token /metrics asks for (Prometheus `credentials_file`); "
        "unset = /metrics answers 403.",
    )
    metrics_refresh_s: Annotated[float, Field(ge=1)] = Field(
        15, description="How often /metrics' Postgres and Jobs API gauges are recomputed (s)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Addresses whose X-Forwarded-Proto is believed (HSTS), as JSON CIDRs.",
    )
    locale: Literal["en", "ko"] = Field("en", description="Language of reports and messages.")
    log_json: bool = Field(False, description="JSON log lines instead of plain text.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest log level written."
    )
    up_timeout_s: Annotated[float, Field(gt=0)] = Field(
        120, description="How long `up` waits for /readyz before giving up."
    )
    first_collection: Literal["on", "off"] = Field(
        "on",
        description="`up` on an empty database starts a first collection of the watchlist.",
    )
    provider_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="Provider API keys: STOCKRAY_PROVIDER_KEYS__NEWSAPI=…"
    )
    provider_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Base URL overrides: STOCKRAY_PROVIDER_URLS__YAHOO=http://… (the sim's).",
    )
    llm_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="LLM endpoint keys: STOCKRAY_LLM_KEYS__OPENAI=…"
    )
    llm_urls: dict[str, str] = Field(
        default_factory=dict, description="LLM base URL overrides: STOCKRAY_LLM_URLS__OPENAI=…"
    )
    dedupe_ttl_s: Annotated[float, Field(gt=0)] = Field(
        7 * 24 * 3600, description="How long an article fingerprint counts as seen (seconds)."
    )
    sim: Literal["auto", "on", "off"] = Field(
        "auto", description="Start the simulator with `up`: auto = when no provider key is set."
    )
    sim_port: Port = Field(8300, description="Sim admin port; providers listen on the next ones.")
    sim_scenarios: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Real-world edges the sim `up` starts shows, per provider (sim/README.md).",
    )
    sim_limits: Literal["off", "realistic"] = Field(
        "off",
        description="Rate limits of the sim `up` starts: realistic = providers.yaml's `limits`.",
    )

    watchlist_groups: str = Field(
        "",
        validation_alias=AliasChoices("STOCKRAY_WATCHLIST"),
        description="Index groups to follow besides watchlist.yaml, comma-separated "
        "(sp500,kospi200: <config dir>/watchlists/<name>.csv); empty = watchlist.yaml only.",
    )

    # Sections: read from the YAML files by load_settings, never from the environment.
    watchlist: Watchlist | None = Field(
        None, exclude=True, validation_alias=AliasChoices("watchlist.yaml")
    )
    providers: Providers | None = Field(None, exclude=True)
    schedules: Schedules | None = Field(None, exclude=True)
    pricing: Pricing | None = Field(None, exclude=True)
    serve: ServeConfig | None = Field(None, exclude=True)
    llm: LlmConfig | None = Field(None, exclude=True)

    @field_validator("home", "config_dir", "ray_temp_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @field_validator("watchlist_groups")
    @classmethod
    def _group_names(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        bad = [n for n in names if not GROUP_NAME.match(n)]
        if bad:
            raise ValueError(f"group names are lower-case file stems; not {', '.join(bad)}")
        return ",".join(dict.fromkeys(names))

    @field_validator("metrics_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("use at least 16 characters (openssl rand -hex 32)")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)  # a ValueError names the bad entry
        return value

    @property
    def http_host(self) -> str:
        """Where the Serve API listens."""
        return self.api_host or self._section(self.serve).http_options.host

    @property
    def http_port(self) -> int:
        """The Serve API's port."""
        return self.api_port or self._section(self.serve).http_options.port

    @property
    def api_url(self) -> str:
        """Base URL of the Serve API as a local client reaches it."""
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "") else self.http_host
        return f"http://{host}:{self.http_port}"

    @property
    def dashboard_url(self) -> str:
        """Ray dashboard / Jobs API URL."""
        return f"http://{self.dashboard_host}:{self.dashboard_port}"

    def provider_problem(self, name: str) -> str | None:
        """Why provider `name` cannot be used (None when it can): disabled, or no key."""
        config = self._section(self.providers).providers.get(name)
        if config is None:
            return "not configured in providers.yaml"
        if not config.enabled:
            return "disabled in providers.yaml"
        if config.needs_key and not self.provider_key(name):
            return f"no API key (set STOCKRAY_PROVIDER_KEYS__{name.upper()})"
        return None

    def provider_key(self, name: str) -> str | None:
        """The provider's API key, if one is configured."""
        key = self.provider_keys.get(name)
        return None if key is None else key.get_secret_value()

    @staticmethod
    def _section(value: Any) -> Any:
        if value is None:
            raise RuntimeError("settings were built without their YAML files; use load_settings()")
        return value


def load_settings(**overrides: Any) -> Settings:
    """Read the environment and the YAML files; raise `ConfigError` naming what is wrong."""
    base = load_env(**overrides)
    sections = {
        name: _load_section(base.config_dir, name, model) for name, model in SECTIONS.items()
    }
    sections["watchlist"] = effective_watchlist(
        base.config_dir, sections["watchlist"], sections["providers"], base.watchlist_groups
    )
    check_schedules(base.config_dir, sections["watchlist"], sections["schedules"])
    _check_prices(base.config_dir, sections["llm"], sections["pricing"])
    return base.model_copy(update=sections)


def load_env(**overrides: Any) -> Settings:
    """The environment's settings without the YAML files; `ConfigError` names a bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise _env_error(exc) from None


def check_schedules(config_dir: Path, watchlist: Watchlist, schedules: Schedules) -> None:
    """Across files: a schedule may only name watchlist groups and instruments."""
    shown = shown_path(config_dir / "schedules.yaml")
    for i, schedule in enumerate(schedules.schedules):
        if schedule.group is not None and schedule.group not in watchlist.groups:
            known = ", ".join(watchlist.groups) or "none"
            raise ConfigError(
                shown, f"schedules.{i}.group", f"unknown group {schedule.group!r} (known: {known})"
            )
        unknown = [t for t in schedule.tickers or [] if watchlist.get(t) is None]
        if unknown:
            raise ConfigError(
                shown, f"schedules.{i}.tickers", f"not in watchlist.yaml: {', '.join(unknown)}"
            )


def _check_prices(config_dir: Path, llm: LlmConfig, pricing: Pricing) -> None:
    # Across files: a model without a price could not be budgeted.
    for i, endpoint in enumerate(llm.endpoints):
        if endpoint.model not in pricing.models:
            raise ConfigError(
                shown_path(config_dir / "llm.yaml"),
                f"endpoints.{i}.model",
                f"no price for model {endpoint.model!r} in pricing.yaml",
            )


def load_section(config_dir: Path, name: str) -> BaseModel:
    """One YAML file of SECTIONS as its model; ConfigError names what is wrong."""
    return _load_section(config_dir, name, SECTIONS[name])


def _load_section(config_dir: Path, name: str, model: type[BaseModel]) -> BaseModel:
    path = config_dir / f"{name}.yaml"
    shown = shown_path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            shown, None, "file not found (STOCKRAY_CONFIG_DIR names the folder)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(shown, where, f"not valid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(shown, None, "expected a mapping at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise ConfigError(shown, field, _expected(err)) from None


def _env_error(exc: ValidationError) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    name = loc[0] if loc else ""
    var = _env_name(name)
    if len(loc) > 1:
        var += "__" + "__".join(p.upper() for p in loc[1:])
    secret = name in {"database_url", "redis_url", "provider_keys", "llm_keys", "metrics_token"}
    secret = secret or name in ALERT_SECRETS
    return ConfigError(f"environment variable {var}", None, _expected(err, show_input=not secret))


def _expected(err: dict[str, Any], show_input: bool = True) -> str:
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "extra_forbidden":
        return "unknown field (check the spelling)"
    if show_input and "input" in err and not isinstance(err["input"], dict | list):
        return f"expected: {msg[0].lower() + msg[1:]}; got {err['input']!r}"
    return msg


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, meaning) for every setting, for docs and `--help`."""
    rows = []
    for name, info in Settings.model_fields.items():
        if name in SECTIONS:
            continue
        var = _env_name(name)
        default = info.get_default(call_default_factory=True)
        if isinstance(default, Path):
            default = os.path.relpath(default) if name == "config_dir" else str(default)
        rows.append((var, "" if default is None else str(default), info.description or ""))
    return rows


def _env_name(field: str) -> str:
    """The environment variable a setting is read from."""
    if field.upper() in ("RAY_ADDRESS", "STOCKRAY_WATCHLIST"):  # an alias, as errors name it
        return field.upper()
    return {"ray_address": "RAY_ADDRESS", "watchlist_groups": "STOCKRAY_WATCHLIST"}.get(
        field, f"STOCKRAY_{field.upper()}"
    )

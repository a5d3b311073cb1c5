"""The settings of `stockray monitoring` (Prometheus, Alertmanager and the alert receivers):
the base class of `configs.settings.Settings`, apart so that module stays small. They are
read from the environment with the same prefix (`STOCKRAY_`) as every other setting."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

Port = Annotated[int, Field(ge=1, le=65535)]
ALERT_SECRETS = frozenset({"alert_webhook_url", "alert_slack_url", "alert_smtp_password"})


class AlertSettings(BaseSettings):
    """`stockray monitoring up`: Prometheus and Alertmanager on loopback (cluster/alerting.py)."""

    prometheus_port: Port = Field(9090, description="Port of the Prometheus `monitoring up` runs.")
    alertmanager_port: Port = Field(
        9093, description="Port of the Alertmanager `monitoring up` runs."
    )
    prometheus_scrape_interval_s: Annotated[float, Field(gt=0)] = Field(
        15, description="How often Prometheus scrapes the API and Ray's metrics agent (s)."
    )
    prometheus_evaluation_interval_s: Annotated[float, Field(gt=0)] = Field(
        30, description="How often Prometheus evaluates the alert rules (s)."
    )
    alert_for_max_s: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="Cap on each rule's `for:` in the rules `monitoring up` writes (drills, "
        "tests); unset = alerts.yml's.",
    )
    alert_group_wait_s: Annotated[float, Field(gt=0)] = Field(
        30, description="Alertmanager: wait before the first notice of a new group (s)."
    )
    alert_group_interval_s: Annotated[float, Field(gt=0)] = Field(
        300, description="Alertmanager: wait before notifying a group's changes, resolved too (s)."
    )
    alert_repeat_interval_s: Annotated[float, Field(gt=0)] = Field(
        4 * 3600, description="Alertmanager: repeat a still-firing warning or critical alert (s)."
    )
    alert_disaster_repeat_s: Annotated[float, Field(gt=0)] = Field(
        900, description="Alertmanager: repeat a still-firing disaster alert (s)."
    )
    alert_webhook_url: SecretStr | None = Field(
        None, description="Generic webhook (Alertmanager JSON) for every level; unset = none."
    )
    alert_slack_url: SecretStr | None = Field(
        None, description="Slack-compatible incoming webhook for every level; unset = none."
    )
    alert_smtp_host: str | None = Field(
        None, description="SMTP server for critical and disaster e-mail; unset = no e-mail."
    )
    alert_smtp_port: Port = Field(587, description="SMTP server port.")
    alert_smtp_from: str | None = Field(None, description="Sender address of alert e-mail.")
    alert_smtp_to: str | None = Field(
        None, description="Recipients of alert e-mail, comma-separated."
    )
    alert_smtp_user: str | None = Field(None, description="SMTP login; unset = no AUTH.")
    alert_smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    alert_smtp_tls: bool = Field(True, description="Require STARTTLS to the SMTP server.")

    @field_validator("alert_webhook_url", "alert_slack_url")
    @classmethod
    def _http_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value

    @field_validator("alert_smtp_from", "alert_smtp_to")
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        bad = [a for a in value.split(",") if "@" not in a.strip()]
        if bad or not value.strip():
            raise ValueError("e-mail addresses (name@host), comma-separated")
        return ",".join(a.strip() for a in value.split(","))

"""What `stockray monitoring up` writes: Prometheus' config and rules, Alertmanager's config.

Severities are the operator manual's three levels (StockPilot manual, "장애 대응 체크리스트"):

- `warning` (Level 1) → the chat receivers: the generic webhook and the Slack-compatible one;
- `critical` (Level 2) → chat and e-mail;
- `disaster` (Level 3) → every receiver, repeated every `STOCKRAY_ALERT_DISASTER_REPEAT_S`.

A receiver whose settings are unset is left out; a level with none left still has its
(empty) receiver, so the routes stay valid and the alerts show on Alertmanager's page.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from configs.errors import ConfigError
from configs.settings import Settings

RULES_SOURCE = Path(__file__).resolve().parent / "monitoring" / "alerts.yml"
SEVERITIES = ("warning", "critical", "disaster")
CHAT, EMAIL = "chat", "email"
LEVEL_CHANNELS = {"warning": (CHAT,), "critical": (CHAT, EMAIL), "disaster": (CHAT, EMAIL)}
GROUP_BY = ["alertname", "provider", "instrument", "capability"]
# The whole stack being down explains every per-component alert: only it is sent.
STACK_DOWN = "StockrayStackDown"
API_JOB, RAY_JOB = "stockray-api", "ray-nodes"


def duration(seconds: float) -> str:
    """A Prometheus/Alertmanager duration: whole seconds as `Ns`, else milliseconds."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


DURATION = re.compile(r"(\d+)(ms|[smhdwy])")
UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _seconds(text: str) -> float:
    """Seconds of a Prometheus duration such as `10m`, `1h30m` or `500ms` (the format is
    small and fixed: a regular expression, not a dependency)."""
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(n) * UNIT_S[u] for n, u in parts)


def rules(settings: Settings, source: Path = RULES_SOURCE) -> dict[str, Any]:
    """alerts.yml with each rule's `for:` capped at STOCKRAY_ALERT_FOR_MAX_S (when set)."""
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    cap = settings.alert_for_max_s
    if cap is not None:
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "for" in rule and _seconds(str(rule["for"])) > cap:
                    rule["for"] = duration(cap)
    return doc


def prometheus_config(settings: Settings, rules_file: Path, token_file: Path) -> dict[str, Any]:
    """Scrape the API's /metrics (bearer token from `token_file`) and Ray's metrics agent;
    evaluate `rules_file`; send alerts to the local Alertmanager."""
    api = settings.api_url.removeprefix("http://").removeprefix("https://")
    return {
        "global": {
            "scrape_interval": duration(settings.prometheus_scrape_interval_s),
            "scrape_timeout": duration(min(10.0, settings.prometheus_scrape_interval_s)),
            "evaluation_interval": duration(settings.prometheus_evaluation_interval_s),
        },
        "rule_files": [str(rules_file)],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{settings.alertmanager_port}"]}]}
            ]
        },
        "scrape_configs": [
            {
                "job_name": API_JOB,
                "metrics_path": "/metrics",
                "scheme": "https" if settings.api_url.startswith("https") else "http",
                "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
                "static_configs": [{"targets": [api]}],
            },
            {
                "job_name": RAY_JOB,
                "static_configs": [{"targets": [f"127.0.0.1:{settings.ray_metrics_port}"]}],
            },
        ],
    }


def channels(settings: Settings) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Alertmanager receiver configs per channel (chat, email), only those configured."""
    chat: dict[str, list[dict[str, Any]]] = {}
    if settings.alert_webhook_url is not None:
        url = settings.alert_webhook_url.get_secret_value()
        chat["webhook_configs"] = [{"url": url, "send_resolved": True}]
    if settings.alert_slack_url is not None:
        url = settings.alert_slack_url.get_secret_value()
        chat["slack_configs"] = [{"api_url": url, "send_resolved": True}]
    email: dict[str, list[dict[str, Any]]] = {}
    if settings.alert_smtp_host:
        if not settings.alert_smtp_from or not settings.alert_smtp_to:
            missing = "STOCKRAY_ALERT_SMTP_" + ("FROM" if not settings.alert_smtp_from else "TO")
            raise ConfigError(
                f"environment variable {missing}",
                None,
                "required when STOCKRAY_ALERT_SMTP_HOST is set",
            )
        email["email_configs"] = [{"to": settings.alert_smtp_to, "send_resolved": True}]
    return {CHAT: chat, EMAIL: email}


def _smtp_global(settings: Settings) -> dict[str, Any]:
    if not settings.alert_smtp_host:
        return {}
    out: dict[str, Any] = {
        "smtp_smarthost": f"{settings.alert_smtp_host}:{settings.alert_smtp_port}",
        "smtp_from": settings.alert_smtp_from,
        "smtp_require_tls": settings.alert_smtp_tls,
    }
    if settings.alert_smtp_user:
        out["smtp_auth_username"] = settings.alert_smtp_user
    if settings.alert_smtp_password is not None:
        out["smtp_auth_password"] = settings.alert_smtp_password.get_secret_value()
    return out


def alertmanager_config(settings: Settings) -> dict[str, Any]:
    """Routes by severity (the manual's three levels), grouping, inhibition, receivers."""
    configured = channels(settings)
    receivers = [{"name": "unrouted"}]  # an alert without a known severity: shown, not sent
    for level in SEVERITIES:
        receiver: dict[str, Any] = {"name": level}
        for channel in LEVEL_CHANNELS[level]:
            receiver.update(configured[channel])
        receivers.append(receiver)
    routes = [{"matchers": [f'severity="{level}"'], "receiver": level} for level in SEVERITIES]
    routes[-1]["repeat_interval"] = duration(settings.alert_disaster_repeat_s)
    return {
        "global": {"resolve_timeout": "5m", **_smtp_global(settings)},
        "route": {
            "receiver": "unrouted",
            "group_by": GROUP_BY,
            "group_wait": duration(settings.alert_group_wait_s),
            "group_interval": duration(settings.alert_group_interval_s),
            "repeat_interval": duration(settings.alert_repeat_interval_s),
            "routes": routes,
        },
        "inhibit_rules": [
            {  # the whole stack is down: its per-component alerts say nothing more
                "source_matchers": [f'alertname="{STACK_DOWN}"'],
                "target_matchers": [f'alertname!="{STACK_DOWN}"'],
            },
        ],
        "receivers": receivers,
    }


def receivers_summary(settings: Settings) -> dict[str, list[str]]:
    """Per level, the kinds of receiver it reaches (no URLs, no secrets), for the CLI."""
    configured = channels(settings)
    return {
        level: [
            kind.removesuffix("_configs")
            for channel in LEVEL_CHANNELS[level]
            for kind in configured[channel]
        ]
        for level in SEVERITIES
    }


def secret_values(settings: Settings) -> list[str]:
    """The receivers' secrets as they could appear in a log line: each whole value and, for
    a URL, its path and query (Go prints a URL's password as `xxxxx`, the rest as is)."""
    found = []
    for secret in (
        settings.alert_webhook_url,
        settings.alert_slack_url,
        settings.alert_smtp_password,
    ):
        if secret is None:
            continue
        value = secret.get_secret_value()
        found.append(value)
        after_host = urlsplit(value)._replace(scheme="", netloc="").geturl()
        if value.startswith(("http://", "https://")) and len(after_host) >= 8:
            found.append(after_host)
    return sorted(set(found), key=len, reverse=True)


def sed_redaction(settings: Settings) -> str:
    """A sed script that replaces each secret with `<redacted>`. Alertmanager's log goes
    through it: 0.25 logs a failed webhook's URL in full (it redacts only Slack's)."""
    lines = []
    for value in secret_values(settings):
        if "\n" in value:
            continue  # a log line cannot hold it whole
        pattern = re.sub(r"([.\[\]*^$\\/])", r"\\\1", value)
        lines.append(f"s/{pattern}/<redacted>/g")
    return "".join(line + "\n" for line in lines)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600, atomically (never half a file, never readable
    by others even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o600)  # an older tmp file may have had other bits
    os.replace(tmp, path)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # each receiver spelled out, no &anchors
        return True


def dump(doc: dict[str, Any]) -> str:
    """YAML text of a config, in its keys' order."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)

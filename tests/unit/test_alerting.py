"""The Alertmanager and Prometheus configs `stockray monitoring up` renders from settings:
routes by the manual's three levels, inhibition, receivers left out when unset, secrets kept
out of every printed line and written 0600, and the real tools accept what is written."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster import alerting, monitoring_cli
from cluster.cli import main
from configs.errors import ConfigError
from configs.settings import load_settings

WEBHOOK = "http://127.0.0.1:9/hook-secret-4f1c"
SLACK = "https://hooks.slack.example/services/T0/B0/slack-secret-9ab2"
PASSWORD = "smtp-secret-77e0"
TOKEN = "metrics-token-for-the-alerting-test"
ALL_RECEIVERS = {
    "alert_webhook_url": WEBHOOK,
    "alert_slack_url": SLACK,
    "alert_smtp_host": "mail.example",
    "alert_smtp_from": "stockray@example.org",
    "alert_smtp_to": "oncall@example.org, lead@example.org",
    "alert_smtp_user": "stockray",
    "alert_smtp_password": PASSWORD,
}


def _receiver(config: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [r for r in config["receivers"] if r["name"] == name]
    return found


def _route(config: dict[str, Any], severity: str) -> dict[str, Any]:
    (found,) = [r for r in config["route"]["routes"] if r["matchers"] == [f'severity="{severity}"']]
    return found


def _amtool(path: Path) -> None:
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: `bash scripts/test.sh` installs prometheus-alertmanager"
    done = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_levels_route_to_chat_then_email_then_everything_repeated(tmp_path: Path) -> None:
    settings = load_settings(**ALL_RECEIVERS, alert_disaster_repeat_s=600)
    config = alerting.alertmanager_config(settings)

    warning = _receiver(config, _route(config, "warning")["receiver"])
    assert set(warning) == {"name", "webhook_configs", "slack_configs"}  # chat only
    assert warning["webhook_configs"] == [{"url": WEBHOOK, "send_resolved": True}]
    assert warning["slack_configs"] == [{"api_url": SLACK, "send_resolved": True}]
    critical = _receiver(config, _route(config, "critical")["receiver"])
    assert set(critical) == {"name", "webhook_configs", "slack_configs", "email_configs"}
    assert critical["email_configs"][0]["to"] == "oncall@example.org,lead@example.org"
    disaster_route = _route(config, "disaster")
    disaster = _receiver(config, disaster_route["receiver"])
    assert set(disaster) == set(critical)  # every receiver there is
    assert disaster_route["repeat_interval"] == "600s"  # repeated, sooner than the others
    assert config["route"]["repeat_interval"] == "14400s"

    assert {"alertname", "provider"} <= set(config["route"]["group_by"])
    smtp = config["global"]
    assert smtp["smtp_smarthost"] == "mail.example:587" and smtp["smtp_require_tls"] is True
    assert smtp["smtp_auth_password"] == PASSWORD  # only in the 0600 file, see below

    (inhibit,) = config["inhibit_rules"]
    assert inhibit["source_matchers"] == ['alertname="StockrayStackDown"']
    assert inhibit["target_matchers"] == ['alertname!="StockrayStackDown"']
    path = tmp_path / "alertmanager.yml"
    path.write_text(alerting.dump(config))
    _amtool(path)


def test_unset_receivers_are_left_out_and_the_routes_stay_valid(tmp_path: Path) -> None:
    settings = load_settings(alert_webhook_url=None, alert_slack_url=None, alert_smtp_host=None)
    config = alerting.alertmanager_config(settings)
    names = {r["name"] for r in config["receivers"]}
    assert config["route"]["receiver"] in names
    for route in config["route"]["routes"]:
        assert route["receiver"] in names
    assert all(set(r) == {"name"} for r in config["receivers"])
    assert "smtp_smarthost" not in config["global"]
    assert alerting.receivers_summary(settings) == {
        "warning": [], "critical": [], "disaster": []
    }  # fmt: skip
    path = tmp_path / "alertmanager.yml"
    path.write_text(alerting.dump(config))
    _amtool(path)

    only_slack = load_settings(alert_slack_url=SLACK, alert_webhook_url=None, alert_smtp_host=None)
    assert alerting.receivers_summary(only_slack) == {
        "warning": ["slack"], "critical": ["slack"], "disaster": ["slack"]
    }  # fmt: skip


def test_half_an_smtp_setup_names_the_missing_variable() -> None:
    settings = load_settings(alert_smtp_host="mail.example", alert_smtp_to=None)
    with pytest.raises(ConfigError, match="STOCKRAY_ALERT_SMTP_FROM"):
        alerting.alertmanager_config(settings)
    settings = load_settings(alert_smtp_host="mail.example", alert_smtp_from="a@example.org")
    with pytest.raises(ConfigError, match="STOCKRAY_ALERT_SMTP_TO"):
        alerting.alertmanager_config(settings)


def test_bad_receiver_settings_name_the_variable_and_hide_the_value(monkeypatch) -> None:
    monkeypatch.setenv("STOCKRAY_ALERT_SLACK_URL", "hooks.slack.example/slack-secret-9ab2")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "STOCKRAY_ALERT_SLACK_URL" in str(caught.value)
    assert "slack-secret" not in str(caught.value)
    monkeypatch.delenv("STOCKRAY_ALERT_SLACK_URL")
    monkeypatch.setenv("STOCKRAY_ALERT_SMTP_TO", "oncall")
    with pytest.raises(ConfigError, match="STOCKRAY_ALERT_SMTP_TO"):
        load_settings()


def test_secrets_are_masked_in_stockray_config(monkeypatch, capsys) -> None:
    for name, value in ALL_RECEIVERS.items():
        monkeypatch.setenv(f"STOCKRAY_{name.upper()}", value)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "STOCKRAY_ALERT_SMTP_HOST=mail.example" in out
    assert "STOCKRAY_ALERT_WEBHOOK_URL=**********" in out
    for secret in (WEBHOOK, SLACK, PASSWORD):
        assert secret not in out
    settings = load_settings()
    assert all(s not in repr(settings) for s in (WEBHOOK, SLACK, PASSWORD))
    assert alerting.receivers_summary(settings)["critical"] == ["webhook", "slack", "email"]


def test_rules_for_is_capped_only_when_asked() -> None:
    source = yaml.safe_load(alerting.RULES_SOURCE.read_text())["groups"][0]["rules"]
    as_is = alerting.rules(load_settings(alert_for_max_s=None))["groups"][0]["rules"]
    assert as_is == source
    capped = alerting.rules(load_settings(alert_for_max_s=1.5))["groups"][0]["rules"]
    for before, after in zip(source, capped, strict=True):
        assert after.get("for") == ("1500ms" if "for" in before else None)
        assert {k: v for k, v in after.items() if k != "for"} == {
            k: v for k, v in before.items() if k != "for"
        }
    assert {r["labels"]["severity"] for r in source} <= set(alerting.SEVERITIES)
    assert alerting.duration(600) == "600s" and alerting.duration(0.25) == "250ms"


def test_up_writes_checked_files_0600_and_needs_the_metrics_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="STOCKRAY_METRICS_TOKEN"):
        monitoring_cli.render(load_settings(home=tmp_path, metrics_token=None))
    settings = load_settings(home=tmp_path, metrics_token=TOKEN, **ALL_RECEIVERS)
    changed = monitoring_cli.write_checked(settings)  # promtool and amtool accept them
    base = tmp_path / "monitoring"
    assert stat.S_IMODE(base.stat().st_mode) == 0o700
    written = {p.name for p in base.iterdir()}
    assert written == changed == {
        "stockray-metrics.token", "alerts.yml", "prometheus.yml", "alertmanager.yml",
        "alertmanager-redact.sed",
    }  # fmt: skip
    assert monitoring_cli.write_checked(settings) == set()  # the same settings: nothing new
    for path in base.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (base / "stockray-metrics.token").read_text().strip() == TOKEN
    assert PASSWORD in (base / "alertmanager.yml").read_text()
    prometheus = yaml.safe_load((base / "prometheus.yml").read_text())
    api, ray = prometheus["scrape_configs"]
    assert api["authorization"]["credentials_file"] == "stockray-metrics.token"
    assert api["static_configs"][0]["targets"] == [settings.api_url.removeprefix("http://")]
    assert ray["static_configs"][0]["targets"] == [f"127.0.0.1:{settings.ray_metrics_port}"]
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{settings.alertmanager_port}"
    ]


def test_the_log_filter_redacts_every_receiver_secret(tmp_path: Path) -> None:
    """Alertmanager 0.25 logs a refused webhook's URL; its log passes this sed script."""
    settings = load_settings(
        alert_webhook_url="http://user:pw@127.0.0.1:9/hook-secret-4f1c?t=a.b[1]&u=$x",
        alert_slack_url=SLACK, alert_smtp_password="p*ss/w\\rd.",
    )  # fmt: skip
    script = tmp_path / "redact.sed"
    script.write_text(alerting.sed_redaction(settings))
    lines = (
        'err="unexpected status code 500: http://user:pw@127.0.0.1:9/hook-secret-4f1c?t=a.b[1]&u=$x"\n'
        'err="Post \\"http://user:xxxxx@127.0.0.1:9/hook-secret-4f1c?t=a.b[1]&u=$x\\": refused"\n'
        f"{SLACK} p*ss/w\\rd. kept: hook-secret-4f1cXt p*ssXw\n"
    )
    sed = shutil.which("sed")
    assert sed
    done = subprocess.run([sed, "-f", str(script)], input=lines, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "hook-secret-4f1c?" not in out and "slack-secret" not in out and "w\\rd." not in out
    assert out.count("<redacted>") == 4 and "kept: hook-secret-4f1cXt p*ssXw" in out
    assert alerting.sed_redaction(load_settings(alert_webhook_url=None, alert_slack_url=None)) == ""

"""Settings: every error names its source, field and expectation; secrets stay hidden."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from configs.settings import PACKAGE_CONFIG_DIR, ConfigError, describe_settings, load_settings


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped configs."""
    target = tmp_path / "configs"
    target.mkdir()
    for path in PACKAGE_CONFIG_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_shipped_configs_load() -> None:
    settings = load_settings()
    assert {i.id for i in settings.watchlist.instruments} >= {"AAPL", "005930.KS"}
    assert settings.providers.capabilities["prices"] == ["yahoo", "alphavantage"]
    assert settings.http_port == 8000
    assert settings.home.is_absolute()


@pytest.mark.parametrize(
    ("file", "old", "new", "field", "expected"),
    [
        ("providers.yaml", "timeout_s: 10", "timeout_s: soon", "providers.yahoo.timeout_s",
         "number"),
        ("providers.yaml", "prices: [yahoo, alphavantage]", "prices: [yahoo, bloomberg]",
         "capabilities", "unknown providers: bloomberg"),
        ("watchlist.yaml", "currency: USD", "currency: dollars", "instruments.0.currency",
         "pattern"),
        ("watchlist.yaml", "timezone: Asia/Seoul", "timezone: Mars/Olympus",
         "instruments.3.timezone", "not an IANA time zone"),
        ("watchlist.yaml", "us: [AAPL, MSFT, NVDA]", "us: [AAPL, TSLA]", "groups",
         "unknown instruments: TSLA"),
        ("schedules.yaml", "interval_s: 900", "cron: '*/15 * * * *'\n    interval_s: 900",
         "schedules.0", "exactly one of `interval_s` or `cron`"),
        ("schedules.yaml", 'cron: "30 9 * * 1-5"', 'cron: "every day"', "schedules.2",
         "five-field cron"),
        ("schedules.yaml", "group: kr", "group: eu", "schedules.2.group", "unknown group 'eu'"),
        ("schedules.yaml", "window: 24h", "window: a day", "schedules.3.window", "pattern"),
        ("llm.yaml", "model: gpt-4o-mini", "model: gpt-9", "endpoints.0.model",
         "no price for model 'gpt-9' in pricing.yaml"),
        ("llm.yaml", "max_concurrency: 8", "max_concurrency: 0", "endpoints.0.max_concurrency",
         "greater than 0"),
        ("schedules.yaml", "group: all\n    capabilities: [news]",
         "tickers: [AAPL, TSLA]\n    capabilities: [news]", "schedules.1.tickers",
         "not in watchlist.yaml: TSLA"),
        ("pricing.yaml", "daily_usd: 5.00", "daily_usd: -1", "budget.daily_usd",
         "greater than or equal to 0"),
        ("serve.yaml", "port: 8000", "port: 99999", "http_options.port", "less than or equal"),
        ("serve.yaml", "import_path: serve_app.app:app", "import_path: nowhere",
         "applications.0.import_path", "pattern"),
        ("providers.yaml", "needs_key: false", "needs_key: false\n    colour: blue",
         "providers.yahoo.colour", "unknown field"),
    ],
)  # fmt: skip
def test_yaml_errors_name_file_field_and_expectation(
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    file: str,
    old: str,
    new: str,
    field: str | None,
    expected: str,
) -> None:
    _edit(config_dir / file, old, new)
    monkeypatch.setenv("STOCKRAY_CONFIG_DIR", str(config_dir))
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert file in message
    if field:
        assert f"{file}: {field}" in message
    assert expected in message


def test_broken_yaml_names_line_and_column(config_dir: Path, monkeypatch) -> None:
    (config_dir / "watchlist.yaml").write_text("instruments:\n  - id: AAPL\n   name: [oops\n")
    monkeypatch.setenv("STOCKRAY_CONFIG_DIR", str(config_dir))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "watchlist.yaml: line 3" in str(info.value)
    assert "not valid YAML" in str(info.value)


def test_missing_file(config_dir: Path, monkeypatch) -> None:
    (config_dir / "pricing.yaml").unlink()
    monkeypatch.setenv("STOCKRAY_CONFIG_DIR", str(config_dir))
    with pytest.raises(ConfigError, match=r"pricing\.yaml: file not found"):
        load_settings()


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("STOCKRAY_API_PORT", "eighty", "valid integer"),
        ("STOCKRAY_DASHBOARD_PORT", "70000", "less than or equal to 65535"),
        ("STOCKRAY_LOCALE", "fr", "'en' or 'ko'"),
        ("STOCKRAY_LOG_JSON", "maybe", "valid boolean"),
    ],
)
def test_env_errors_name_the_variable(monkeypatch, var: str, value: str, expected: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert f"environment variable {var}" in str(info.value)
    assert expected in str(info.value)
    assert repr(value) in str(info.value)


def test_secrets_are_never_printed(monkeypatch) -> None:
    monkeypatch.setenv("STOCKRAY_DATABASE_URL", "postgresql://u:hunter2@db/x")
    monkeypatch.setenv("STOCKRAY_PROVIDER_KEYS__NEWSAPI", "sk-very-secret")
    settings = load_settings()
    assert settings.provider_keys["newsapi"].get_secret_value() == "sk-very-secret"
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "hunter2" not in text
        assert "sk-very-secret" not in text


def test_dotenv_is_read(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / ".env").write_text("STOCKRAY_LOCALE=ko\nSTOCKRAY_API_PORT=8123\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.locale == "ko"
    assert settings.http_port == 8123


def test_every_setting_is_described() -> None:
    rows = describe_settings()
    assert all(meaning for _var, _default, meaning in rows), rows
    assert "STOCKRAY_DATABASE_URL" in [r[0] for r in rows]


def test_cli_exits_2_with_one_line_and_no_traceback(config_dir: Path) -> None:
    _edit(config_dir / "providers.yaml", "timeout_s: 10", "timeout_s: soon")
    done = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "status"],
        env={"STOCKRAY_CONFIG_DIR": str(config_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "providers.yaml: providers.yahoo.timeout_s" in lines[0]

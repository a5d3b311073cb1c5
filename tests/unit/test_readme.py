"""The README stays true: every setting is in its table, and CI runs its test command."""

from __future__ import annotations

from pathlib import Path

from configs.settings import describe_settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_has_a_readme_row() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [var for var, _, _ in describe_settings() if f"| `{var}` |" not in readme]
    assert missing == []


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()

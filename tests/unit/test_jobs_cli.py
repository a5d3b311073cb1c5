"""`stockray collect|backfill|analyze`: what it reads from a job's log, and what it refuses."""

from __future__ import annotations

import pytest

from cluster import jobs_cli
from cluster.jobs_cli import ProgressLine, exit_code, parse_progress
from configs.settings import load_settings
from jobs.common import Progress


def test_a_jobs_progress_line_parses_back_to_its_numbers() -> None:
    progress = Progress("jobs.backfill", total=40, every_s=3600)
    for rows in (250, 250, 100):
        progress.step(rows)
    seen = parse_progress(progress.line())
    assert seen is not None
    assert (seen.prog, seen.done, seen.total, seen.rows) == ("jobs.backfill", 3, 40, 600)
    assert seen.rate >= 0 and seen.eta_s >= 0


def test_a_progress_line_inside_a_prefixed_log_line_is_found() -> None:
    line = "2026-12-01 18:00:00 INFO jobs.collect: 7/700 chunks, 1234 rows, 56 rows/s, ETA 93s"
    assert parse_progress(line) == ProgressLine("jobs.collect", 7, 700, 1234, 56.0, 93.0)


def test_a_progress_line_before_any_unit_has_an_infinite_eta() -> None:
    seen = parse_progress(Progress("jobs.analyze", total=5).line())
    assert seen is not None and seen.done == 0 and seen.eta_s == float("inf")


@pytest.mark.parametrize(
    "line",
    [
        "jobs.collect: AAPL {'fetched': 3} via {'prices': 'yahoo'}",
        '{"kind": "collect", "counts": {"rows": 3}}',
        "jobs.backfill: 3/40 chunks",
        "",
    ],
)
def test_other_log_lines_are_not_progress(line: str) -> None:
    assert parse_progress(line) is None


@pytest.mark.parametrize(
    ("status", "driver_code", "expected"),
    [
        ("SUCCEEDED", 0, 0),
        ("FAILED", 1, 1),
        ("FAILED", 3, 3),  # jobs.analyze: degraded
        ("FAILED", None, 1),  # failed before the driver ran
        ("STOPPED", None, 130),
        ("STOPPED", -15, 130),
    ],
)
def test_the_exit_code_is_the_jobs(status: str, driver_code: int | None, expected: int) -> None:
    assert exit_code(status, driver_code) == expected


def test_own_options_are_taken_and_the_rest_passes_through() -> None:
    own, rest = jobs_cli.build_parser("collect").parse_known_args(
        ["--tickers", "AAPL", "--no-follow", "--capabilities", "prices", "--no-analyze"]
    )
    assert own.no_follow is True
    assert rest == ["--tickers", "AAPL", "--capabilities", "prices", "--no-analyze"]


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("collect", ["--tickers", "NOPE"], "unknown ticker NOPE"),
        ("collect", ["--capabilities", "weather"], "unknown capability 'weather'"),
        ("analyze", ["--window", "soon"], "--window: 'soon'"),
        ("backfill", ["--tickers", "AAPL", "--start", "2024-02-01", "--end", "2024-01-01"],
         "is after --end"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_before_submitting(
    name: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        jobs_cli.check_args(name, load_settings(), args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_good_arguments_pass_the_local_check() -> None:
    args = jobs_cli.check_args(
        "collect", load_settings(), ["--tickers", "AAPL", "--capabilities", "prices"]
    )
    assert args.tickers == ["AAPL"]  # the job's request: `--tickers` read as a list

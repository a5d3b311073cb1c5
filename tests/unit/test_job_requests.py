"""Job requests: the one way a job is started (entrypoints written and read back, odd values
quoted once), their checks and messages, and the summaries' JSON (no Ray)."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from configs.settings import load_settings
from core.collection import Counts
from core.jobs import (
    AnalyzeRequest,
    Backfill,
    BackfillRequest,
    CollectRequest,
    CollectSummary,
    JobRequest,
    UsageError,
)
from core.models import DEFAULT_CAPABILITIES, Capability

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _read_back(request: JobRequest) -> JobRequest:
    words = shlex.split(request.to_entrypoint())
    assert words[:3] == ["python", "-m", f"jobs.{request.JOB}"]
    return type(request).from_argv(words[3:])


def test_entrypoints_name_only_what_was_given() -> None:
    first = CollectRequest(capabilities=[Capability.PRICES, Capability.NEWS], trace_id="t")
    assert first.to_entrypoint() == "python -m jobs.collect --capabilities prices,news --trace-id t"
    analyze = AnalyzeRequest(tickers=["AAPL", "MSFT"], window="7d", trace_id="t")
    assert analyze.to_entrypoint() == (
        "python -m jobs.analyze --tickers AAPL,MSFT --window 7d --trace-id t"
    )
    cycle = CollectRequest(tickers=["us"], cycle_s=3600.0, plan_only=True, no_analyze=False)
    assert cycle.argv() == ["--tickers", "us", "--cycle-s", "3600", "--plan-only"]


def test_the_apis_backfill_names_every_field_it_was_given() -> None:
    asked = Backfill(tickers=["MSFT"], start=date(2024, 2, 1), end=date(2024, 2, 20))
    job = BackfillRequest.of(asked, trace_id="t")
    assert job.to_entrypoint() == (
        "python -m jobs.backfill --tickers MSFT --start 2024-02-01 --end 2024-02-20 "
        "--interval 1d --capabilities prices --trace-id t"
    )
    assert _read_back(job) == job


ODD = [
    "a b",
    "it's",
    'say "hi"',
    "$(rm -rf /); echo `x` | cat > f && y",
    "-starts-like-a-flag",
    "--trace-id",
    "tab\there\nnewline",
    "ünïcødé 株式",
    "",
]


@pytest.mark.parametrize("odd", ODD)
def test_odd_values_are_quoted_once_and_read_back_the_same(odd: str) -> None:
    requests: list[JobRequest] = [
        CollectRequest(interval=odd, trace_id=odd),
        AnalyzeRequest(window="90m", trace_id=odd),
        BackfillRequest(tickers=["AAPL"], start=date(2024, 1, 1), end=date(2024, 1, 2),
                        interval=odd, trace_id=odd),
    ]  # fmt: skip
    for request in requests:
        assert _read_back(request) == request
        assert _read_back(request).to_entrypoint() == request.to_entrypoint()


@pytest.mark.parametrize("ticker", ["a b", "-X", "株式", "it's", "$(x)"])
def test_odd_tickers_read_back_the_same(ticker: str) -> None:
    request = AnalyzeRequest(tickers=[ticker, "AAPL"], trace_id="t")
    assert _read_back(request) == request


@settings(deadline=None)  # a loaded CI machine is slow, not wrong
@given(
    trace_id=st.text(),
    interval=st.text(),
    cycle_s=st.none() | st.floats(min_value=1e-6, allow_infinity=True),
    plan_only=st.booleans(),
)
def test_any_collect_request_reads_back_the_same(
    trace_id: str, interval: str, cycle_s: float | None, plan_only: bool
) -> None:
    request = CollectRequest(
        interval=interval, trace_id=trace_id, cycle_s=cycle_s, plan_only=plan_only
    )
    assert _read_back(request) == request


def test_a_command_line_reads_into_typed_fields() -> None:
    request = BackfillRequest.from_argv(
        ["--tickers", "AAPL, us", "--start", "2024-01-01", "--end", "2024-03-31",
         "--capabilities", "prices,news", "--chunk-days", "30", "--refetch"]
    )  # fmt: skip
    assert request.tickers == ["AAPL", "us"]
    assert (request.start, request.end) == (date(2024, 1, 1), date(2024, 3, 31))
    assert request.capabilities == [Capability.PRICES, Capability.NEWS]
    assert (request.chunk_days, request.refetch, request.interval) == (30, True, "1d")
    collect = CollectRequest.from_argv([])
    assert collect.capabilities == list(DEFAULT_CAPABILITIES) and collect.tickers is None
    assert Capability.FUNDAMENTALS not in collect.capabilities  # only when asked for
    assert collect.argv() == []  # nothing given, nothing written


@pytest.mark.parametrize(
    ("cls", "argv", "message"),
    [
        (CollectRequest, ["--capabilities", "weather"],
         "--capabilities: unknown capability 'weather' "
         "(choose from prices, news, disclosures, fundamentals)"),
        (CollectRequest, ["--capabilities", " , "], "--capabilities: give at least one"),
        (AnalyzeRequest, ["--window", "soon"],
         "--window: 'soon' is not a window like 24h, 7d or 90m"),
        (AnalyzeRequest, ["--window", "0h"], "--window: '0h' is not a window"),
        (BackfillRequest, ["--tickers", "AAPL", "--start", "2020-13-01", "--end", "2021-02-01"],
         "--start: '2020-13-01' is not a date (YYYY-MM-DD)"),
        (BackfillRequest, ["--tickers", ",", "--start", "2020-01-01", "--end", "2021-02-01"],
         "--tickers: give at least one id or group"),
    ],
)  # fmt: skip
def test_values_wrong_on_their_face_are_refused_by_name(
    cls: type[JobRequest], argv: list[str], message: str
) -> None:
    with pytest.raises(UsageError) as refused:
        cls.from_argv(argv)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("cls", "argv", "message"),
    [
        (CollectRequest, ["--cycle-s", "0"], "--cycle-s: give a number of seconds > 0"),
        (CollectRequest, ["--cycle-s", "nan"], "--cycle-s: give a number of seconds > 0"),
        (BackfillRequest, ["--tickers", "A", "--start", "2020-01-01", "--end", "2020-01-02",
                           "--chunk-days", "-1"], "--chunk-days: give a number of days > 0"),
        (BackfillRequest, ["--start", "2020-01-01", "--end", "2020-01-02"],
         "the following arguments are required: --tickers"),
        (CollectRequest, ["--colour", "red"], "unrecognized arguments: --colour red"),
    ],
)  # fmt: skip
def test_malformed_command_lines_exit_2_with_the_usage(
    cls: type[JobRequest], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cls.from_argv(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: python -m jobs.{cls.JOB}") and message in err


def _backfill(**fields: object) -> BackfillRequest:
    base = {"tickers": ["AAPL"], "start": date(2026, 1, 1), "end": date(2026, 2, 1)}
    return BackfillRequest(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"tickers": ["TSLA"]}, "tickers", "--tickers: unknown ticker TSLA (not in watchlist"),
        ({"start": date(2026, 3, 1)}, "start", "--start 2026-03-01 is after --end 2026-02-01"),
        ({"start": date(2026, 11, 21), "end": date(2026, 12, 1)}, "start",
         "--start 2026-11-21 is in the future"),
        ({"interval": "2h"}, "interval", "--interval '2h' is not served by any price provider"),
        ({"interval": "1m", "start": date(2020, 1, 1)}, "start",
         "--start 2020-01-01: prices reach back only 30 days at interval 1m"),
    ],
)  # fmt: skip
def test_a_backfills_problems_name_the_field_and_say_what_is_wrong(
    fields: dict[str, object], field: str, message: str
) -> None:
    request = _backfill(**fields)
    found = request.problems(load_settings(), NOW)
    assert [p.field for p in found] == [field]
    assert message in found[0].message
    with pytest.raises(UsageError) as refused:  # the job's exit 2: the same message
        request.check(load_settings(), NOW)
    assert str(refused.value) == found[0].message


def test_every_problem_of_a_backfill_is_listed_for_the_api() -> None:
    request = _backfill(tickers=["NOPE"], start=date(2026, 3, 1), interval="7y")
    assert [p.field for p in request.problems(load_settings(), NOW)] == [
        "tickers",
        "start",
        "interval",
    ]


def test_a_capability_no_enabled_provider_serves_is_a_problem() -> None:
    request = _backfill(capabilities=[Capability.DISCLOSURES])
    (problem,) = request.problems(load_settings(), NOW, enabled={"yahoo"})
    assert problem.field == "capabilities"
    assert problem.message == "--capabilities: no enabled provider serves disclosures"
    assert _backfill().problems(load_settings(), NOW) == []


def test_a_backfills_period_ends_the_day_after_its_last_day_or_now() -> None:
    start, end = _backfill().period(NOW)
    assert (start, end) == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC))
    assert _backfill(end=date(9999, 12, 31)).period(NOW)[1] == NOW


def test_collect_and_analyze_check_their_tickers() -> None:
    settings = load_settings()
    assert CollectRequest(tickers=["AAPL"]).problems(settings, NOW) == []
    (problem,) = AnalyzeRequest(tickers=["NOPE"]).problems(settings, NOW)
    assert problem.field == "tickers" and "unknown ticker NOPE" in problem.message


def test_a_collect_summary_prints_the_jobs_json_line() -> None:
    summary = CollectSummary(
        run_id="r", trace_id="t", instruments=2, plan={"requests": 3}, counts=Counts(saved=1)
    )
    line = summary.model_copy(update={"analyze_job": None, "failed": {"A": {"news": "x"}}})
    assert list(json.loads(line.line())) == [
        "kind", "run_id", "trace_id", "instruments", "plan", "analyze_job", "counts", "failed",
        "elapsed_s",
    ]  # fmt: skip
    assert line.line().startswith('{"kind": "collect", "run_id": "r"')
    planned = json.loads(summary.model_copy(update={"plan_only": True}).line())
    assert "analyze_job" not in planned and "plan_only" not in planned
    assert planned["counts"] == {"fetched": 0, "unique": 0, "saved": 1, "known": 0, "repeated": 0}

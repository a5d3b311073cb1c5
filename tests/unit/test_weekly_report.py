"""The weekly report without a database: latency quantiles from merged buckets, the page
(charts drawn, text escaped, nothing external, "no data" when empty), atomic replacement,
the names served, and the job's arguments and freshness expectations (no Ray)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from configs.settings import load_settings
from core.freshness import STALE_FACTOR
from core.storage.api_daily import BOUNDS_S, N_BUCKETS, ApiDay, bucket_of, quantile
from core.weekly_report import list_reports, report_path, write_report
from core.weekly_report.model import (
    FreshnessRow,
    JobsDay,
    NewsVolume,
    SpendDay,
    TrafficDay,
    WeeklyReport,
)
from core.weekly_report.render import render_html
from jobs.weekly_report import expected_freshness, parse_args, period

START, END = date(2026, 11, 23), date(2026, 11, 29)
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def _report(**fields) -> WeeklyReport:
    base = {
        "start": START, "end": END, "generated_at": datetime(2026, 11, 30, 1, tzinfo=UTC),
        "traffic": [], "routes": [], "jobs": [], "spend": [], "budget": [], "freshness": [],
        "news": [],
    }  # fmt: skip
    return WeeklyReport(**{**base, **fields})


def test_buckets_and_the_p95_interpolated_inside_its_bucket() -> None:
    assert bucket_of(0.005) == 0 and bucket_of(0.0051) == 1 and bucket_of(99) == len(BOUNDS_S)
    assert quantile([0] * N_BUCKETS, 0.95) is None
    one_bucket = [0] * N_BUCKETS
    one_bucket[BOUNDS_S.index(0.1)] = 100  # all in (0.05, 0.1]
    assert quantile(one_bucket, 0.95) == pytest.approx(0.05 + 0.05 * 0.95)
    day = ApiDay(START, "/a")
    for _ in range(90):
        day.observe(200, 0.003)  # first bucket
    for _ in range(10):
        day.observe(503, 0.7)  # (0.5, 1]
    assert (day.requests, day.errors_5xx, day.errors_4xx) == (100, 10, 0)
    # rank 95 is the 5th of the 10 slow ones: half-way through (0.5, 1].
    assert quantile(day.buckets, 0.95) == pytest.approx(0.75)
    other = ApiDay(START, "/b")
    other.observe(404, 20.0)
    day.merge(other)
    assert day.requests == 101 and day.errors_4xx == 1 and day.buckets[-1] == 1


def test_an_empty_week_still_renders_every_chart_saying_no_data() -> None:
    page = render_html(_report())
    assert page.count("<svg") == 6
    assert page.count("no data") >= 6
    assert not EXTERNAL.search(page)
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page


def test_numbers_reach_the_page_and_text_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    report = _report(
        traffic=[TrafficDay(day=START, requests=1234, errors_5xx=7, p95_s=0.2)],
        jobs=[JobsDay(day=START, kind="collect", runs=5, failed=2)],
        spend=[SpendDay(day=START, model=evil, calls=3, cost_usd=1.25)],
        freshness=[FreshnessRow(capability="news", fresh=1, stale=1, never=0, stale_ids=["X"])],
        news=[NewsVolume(instrument_id=evil, articles=9)],
    )
    page = render_html(report)
    assert "<script>" not in page  # in the tables and in the charts' SVG text alike
    assert "&lt;script&gt;" in page
    assert re.search(r'id="total-requests">1234<', page)
    assert re.search(r'id="total-failures">2<', page)
    assert "$1.2500" in page
    assert page.count("<svg") == 6


def test_a_rerun_replaces_the_week_atomically_and_lists_it(tmp_path) -> None:
    first = write_report(tmp_path, _report())
    assert first.path.name == "weekly-2026-11-29.html" and not first.replaced
    second = write_report(tmp_path, _report(news=[NewsVolume(instrument_id="AAPL", articles=3)]))
    assert second.replaced and second.path == first.path
    assert "AAPL" in second.path.read_text()
    left = sorted(p.name for p in second.path.parent.iterdir())
    assert left == ["weekly-2026-11-29.html", "weekly-2026-11-29.json"]  # no temp files
    (listed,) = list_reports(tmp_path)
    assert (listed.name, listed.start, listed.end) == (first.path.name, START, END)
    assert listed.bytes == second.bytes


@pytest.mark.parametrize(
    "name",
    ["../weekly-2026-11-29.html", "weekly-2026-11-29.json", "weekly-2026-11-29.html/x",
     "weekly-٢٠٢٦-11-29.html", "weekly-2026-11-29.htm", ""],
)  # fmt: skip
def test_only_report_names_map_to_a_file(tmp_path, name: str) -> None:
    assert report_path(tmp_path, name) is None


def test_arguments_and_the_default_week() -> None:
    request = parse_args(["--end", "2026-11-29"])
    assert period(request, date(2026, 12, 2)) == (START, END)
    assert period(parse_args([]), date(2026, 11, 30)) == (START, END)  # up to yesterday
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--days", "0"])
    assert stopped.value.code == 2
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--end", "29/11/2026"])
    assert stopped.value.code == 2


def test_freshness_expects_what_doctor_and_the_alert_expect() -> None:
    settings = load_settings()
    expected = expected_freshness(settings, datetime(2026, 11, 25, 12, tzinfo=UTC))
    by_name = {s.name: s for s in settings.schedules.schedules}
    assert expected["AAPL", "prices"] == STALE_FACTOR * by_name["prices-intraday"].interval_s
    assert expected["AAPL", "news"] == STALE_FACTOR * by_name["news-hourly"].interval_s
    # A weekday cron's longest gap spans the weekend.
    kr = [k for k in expected if k[1] == "disclosures"]
    assert kr and all(expected[k] == STALE_FACTOR * timedelta(days=3).total_seconds() for k in kr)

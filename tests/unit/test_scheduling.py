"""Slots, catch-up after downtime, jitter and submission ids (no Ray, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from configs.sections import Schedule
from configs.settings import load_settings
from core.scheduling import due, jitter, next_slot, previous_slot, submission_id

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday


def _every(seconds: float, jitter_s: float = 0) -> Schedule:
    return Schedule(
        name="s", tickers=["AAPL"], capabilities=["prices"], interval_s=seconds, jitter_s=jitter_s
    )


def test_interval_slots_are_epoch_aligned() -> None:
    s = _every(900)
    assert previous_slot(s, T0 + timedelta(minutes=7)) == T0
    assert next_slot(s, T0) == T0 + timedelta(minutes=15)


def test_cron_slots_follow_the_expression() -> None:
    s = Schedule(name="c", group="kr", capabilities=["disclosures"], cron="30 9 * * 1-5")
    assert previous_slot(s, T0) == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert next_slot(s, T0) == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # Monday


def test_first_sight_runs_nothing_and_names_the_next_slot() -> None:
    plan = due(_every(900), None, T0 + timedelta(minutes=1))
    assert plan.slot is None and plan.next_due == T0 + timedelta(minutes=15)


def test_due_slot_runs_once() -> None:
    s = _every(900)
    plan = due(s, T0, T0 + timedelta(minutes=15, seconds=1))
    assert plan.slot == T0 + timedelta(minutes=15) and plan.missed == ()
    assert due(s, plan.slot, T0 + timedelta(minutes=16)).slot is None  # not twice


def test_after_downtime_the_newest_slot_runs_and_older_ones_are_reported() -> None:
    s = _every(900)
    plan = due(s, T0, T0 + timedelta(hours=1, minutes=1))
    assert plan.slot == T0 + timedelta(hours=1)
    assert plan.missed == tuple(T0 + timedelta(minutes=15 * k) for k in (1, 2, 3))


def test_jitter_is_stable_and_bounded() -> None:
    s = _every(900, jitter_s=30)
    delays = {jitter(s, T0 + timedelta(minutes=15 * k)) for k in range(20)}
    assert all(timedelta(0) <= d < timedelta(seconds=30) for d in delays)
    assert len(delays) > 1
    assert jitter(s, T0) == jitter(s, T0)
    delay = jitter(s, T0)
    assert delay > timedelta(0)
    waiting = due(s, T0 - timedelta(minutes=15), T0)  # due, but inside its jitter
    assert (waiting.slot, waiting.next_due) == (None, T0 + delay)
    assert due(s, T0 - timedelta(minutes=15), T0 + delay).slot == T0


def test_submission_id_is_deterministic() -> None:
    assert submission_id("news-hourly", T0) == "stockray-news-hourly-20261120T120000Z"


def test_entrypoints_of_collect_and_analyze_schedules() -> None:
    from actors.scheduler import entrypoint

    settings = load_settings()
    by_name = {s.name: s for s in settings.schedules.schedules}
    collect = entrypoint(settings, by_name["disclosures-daily"], "t")
    assert collect == (
        "python -m jobs.collect --tickers 005930.KS,000660.KS --capabilities disclosures "
        "--trace-id t"
    )
    analyze = entrypoint(settings, by_name["analysis-daily"], "t")
    assert (
        analyze.startswith("python -m jobs.analyze --tickers AAPL,MSFT")
        and "--window 24h" in analyze
    )
    hourly = entrypoint(settings, by_name["news-hourly"], "t")
    assert "--capabilities news --cycle-s 3600 --trace-id t" in hourly  # planned to fit

"""bench.scale's pure helpers: percentiles, the job's summary line, the key `up` prints, the
sim's stats delta, and resident memory of real processes."""

from __future__ import annotations

import os
import subprocess
import sys

from bench._scale_measure import (
    RssSampler,
    admin_key,
    count_of,
    failure_kinds,
    p99_ms,
    ratio,
    stats_delta,
    summary_of,
    tree_rss,
)


def test_p99_of_a_hundred_and_one_latencies_is_the_hundredth() -> None:
    seconds = [i / 1000 for i in range(101)]  # 0..100 ms
    assert p99_ms(seconds) == 99.0
    assert p99_ms([0.5]) is None


def test_ratio_is_none_without_both_figures() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None
    assert ratio(1.0, 0) is None


def test_summary_is_the_last_json_object_line() -> None:
    out = '\n'.join([
        'jobs.collect: plan: 7 requests',
        '{"early": 1}',
        '{"kind": "collect", "elapsed_s": 12.5, "plan": {"ideal_s": 11.0}}',
        'not json {',
        '{"broken": ',
    ])  # fmt: skip
    assert summary_of(out) == {"kind": "collect", "elapsed_s": 12.5, "plan": {"ideal_s": 11.0}}
    assert summary_of("no summary here") is None


def test_admin_key_from_ups_output() -> None:
    out = "postgres: ok\nadmin API key (shown once): sr_abc.DEF-123\ndashboard: http://x\n"
    assert admin_key(out) == "sr_abc.DEF-123"
    assert admin_key("postgres: ok\n") is None


def test_stats_delta_per_provider() -> None:
    before = {"yahoo": {"requests": 10, "limited": 1, "http_429": 1}, "dart": {"requests": 3}}
    after = {
        "yahoo": {"requests": 85, "limited": 3, "http_429": 2},
        "dart": {"requests": 3, "limited": 0, "http_429": 0},
        "newsapi": {"requests": 7, "limited": 0, "http_429": 0},
    }
    assert stats_delta(before, after) == {
        "yahoo": {"requests": 75, "limited": 2, "http_429": 1},
        "newsapi": {"requests": 7, "limited": 0, "http_429": 0},
    }


def test_count_of_counts_and_collections() -> None:
    assert count_of(4) == 4
    assert count_of([{"instrument": "A"}, {"instrument": "B"}]) == 2
    assert count_of({"AAPL": {"news": "x"}}) == 1
    assert count_of(None) is None
    assert count_of("many") is None


def _sleeper() -> subprocess.Popen[str]:
    """A Python child that has started (it said so) and sleeps."""
    code = "import time; print('ready', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    return child


def test_tree_rss_counts_the_children() -> None:
    child = _sleeper()
    try:
        alone = tree_rss(child.pid)
        with_parent = tree_rss(os.getpid())
        assert alone > 1024 * 1024
        assert with_parent > alone  # this process and its child
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
    assert tree_rss(child.pid) == 0


def test_sampler_records_driver_and_actor_peaks() -> None:
    child = _sleeper()
    try:
        with RssSampler(
            child.pid,
            find_actors=lambda: {"me": os.getpid()},
            find_workers=lambda: {"collect_units:1": child.pid, "collect_units:2": os.getpid()},
            every_s=0.01,
        ) as s:
            pass
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
    figures = s.figures()
    assert figures["samples"] >= 1
    assert figures["driver_mb"] > 1
    assert figures["provider_actors_mb"] > figures["driver_mb"]  # pytest outweighs `sleep`
    # A pid in two groups counts once (the actor's): the workers' figure is the child's.
    assert abs(figures["task_workers_mb"] - figures["driver_mb"]) < 2
    parts = figures["driver_mb"] + figures["provider_actors_mb"] + figures["task_workers_mb"]
    assert figures["provider_actors_mb"] < figures["total_mb"] <= parts + 0.2
    assert figures["provider_actors"] == ["me"]
    assert figures["task_workers"] == 2


def test_failure_kinds_most_frequent_first() -> None:
    failed = {
        "AAPL": {"news": "Throttled: newsapi", "prices": "Timeout"},
        "MSFT": {"news": "Throttled: newsapi"},
        "NVDA": "ValueError: boom",
        "AMZN": {"news": "Throttled: newsapi: next slot in 776.6s"},
        "META": {"news": "Throttled: newsapi: next slot in 12.25s"},
        "AMD": {
            "prices": "\x1b[36mray::ProviderRouter.fetch_bars()\x1b[39m (pid=1, ip=x)\n"
            '  File "a.py", line 1\nTimeout\n\n'
        },
    }
    assert failure_kinds(failed) == {
        "news: Throttled: newsapi": 2,
        "prices: Timeout": 2,
        "news: Throttled: newsapi: next slot in Ns": 2,
        "ValueError: boom": 1,
    }
    assert failure_kinds(None) == {}

"""`stockray doctor`'s verdicts: thresholds, backups, archiving, logs, freshness, providers,
spend, certificates, and the runner's timeouts. No Ray, no database."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cluster import doctor as runner
from cluster import doctor_checks
from configs.settings import ConfigError, load_settings
from core import doctor
from core.doctor import Check, Report
from core.doctor_logs import count_errors, error_stage
from core.freshness import Lag, collection_intervals, last_success, stale
from core.storage.backups import Backup
from core.storage.wal import Archiver
from core.storage.watermarks import Freshness

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _backup(kind: str, hours_ago: float, verified: bool = True) -> Backup:
    at = NOW - timedelta(hours=hours_ago)
    return Backup(kind, f"/b/{kind}/{hours_ago}", at - timedelta(minutes=5), at, 10,
                  at if verified else None)  # fmt: skip


def test_levels_grade_at_their_edges() -> None:
    assert [doctor.above(v, (80, 90)) for v in (79.9, 80, 89.9, 90)] == [
        "ok", "warn", "warn", "fail"
    ]  # fmt: skip
    assert [doctor.below(v, (30, 7)) for v in (31, 30, 8, 7, -1)] == [
        "ok", "warn", "warn", "fail", "fail"
    ]  # fmt: skip
    assert doctor.usage("disk", 85.0, (80, 90), "/").status == "warn"
    assert doctor.connections(95, 100, (80, 90)).status == "fail"
    assert doctor.connections(10, 100, (80, 90)).status == "ok"


def test_warnings_exit_0_and_a_failure_exits_1() -> None:
    ok = Check(name="a", status="ok", detail="")
    warn = Check(name="b", status="warn", detail="")
    skip = Check(name="c", status="skip", detail="")
    assert Report.of([ok, warn, skip]).exit_code == 0
    failed = Report.of([ok, Check(name="d", status="fail", detail="x")])
    assert (failed.ok, failed.exit_code) == (False, 1)
    again = Report.model_validate_json(failed.model_dump_json())
    assert again == failed


def test_settings_refuse_levels_in_the_wrong_order() -> None:
    assert load_settings(doctor_backup_age_h=(10, 20)).doctor_backup_age_h == (10, 20)
    with pytest.raises(ConfigError, match=r"DOCTOR_DISK_USED_PCT.*warn <= fail"):
        load_settings(doctor_disk_used_pct=(95, 90))
    with pytest.raises(ConfigError, match=r"DOCTOR_CERT_DAYS.*warn >= fail"):
        load_settings(doctor_cert_days=(7, 30))


def test_backup_is_graded_by_the_newest_of_either_kind() -> None:
    levels = (26, 72)
    assert doctor.backup(None, None, NOW, levels).status == "fail"
    assert doctor.backup(_backup("logical", 2), None, NOW, levels).status == "ok"
    assert doctor.backup(_backup("logical", 2, verified=False), None, NOW, levels).status == "warn"
    assert doctor.backup(_backup("logical", 30), None, NOW, levels).status == "warn"
    old = doctor.backup(_backup("logical", 80), _backup("base", 75), NOW, levels)
    assert old.status == "fail" and old.value["newest_kind"] == "base"
    fresh_base = doctor.backup(_backup("logical", 80), _backup("base", 1), NOW, levels)
    assert fresh_base.status == "ok" and "logical 80.0 h ago" in fresh_base.detail


def _archiver(**changes: object) -> Archiver:
    fields = dict(archived_count=12, last_archived_wal="00000001000000000007",
                  last_archived_time=NOW - timedelta(minutes=3), failed_count=0,
                  last_failed_wal=None, last_failed_time=None)  # fmt: skip
    return Archiver(**(fields | changes))


def test_wal_archiving() -> None:
    assert doctor.archiving("on", _archiver(), 0, True, NOW).status == "ok"
    assert doctor.archiving("off", _archiver(), 0, False, NOW).status == "warn"
    assert doctor.archiving("off", _archiver(), 0, True, NOW).status == "fail"
    failing = _archiver(failed_count=3, last_failed_time=NOW - timedelta(minutes=1))
    check = doctor.archiving("on", failing, 0, True, NOW)
    assert check.status == "fail" and "failing since" in check.detail
    recovered = _archiver(failed_count=3, last_failed_time=NOW - timedelta(hours=1))
    assert doctor.archiving("always", recovered, 0, True, NOW).status == "ok"
    assert doctor.archiving("on", _archiver(), doctor.WAL_READY_WARN, True, NOW).status == "warn"
    assert "waiting" not in doctor.archiving("on", _archiver(), None, True, NOW).detail


def test_error_lines_are_counted_by_stage_from_both_formats(tmp_path: Path) -> None:
    since = NOW - timedelta(hours=1)
    local = (NOW - timedelta(minutes=5)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    lines = [
        json.dumps({"ts": (NOW - timedelta(minutes=1)).isoformat(), "level": "ERROR",
                    "logger": "stockray.jobs", "msg": "x", "stage": "collect"}),
        json.dumps({"ts": (NOW - timedelta(minutes=2)).isoformat(), "level": "ERROR", "msg": "y"}),
        json.dumps({"ts": (NOW - timedelta(hours=2)).isoformat(), "level": "ERROR",
                    "stage": "collect"}),  # before the hour
        json.dumps({"ts": NOW.isoformat(), "level": "WARNING", "stage": "collect"}),
        f"{local},120 ERROR stockray.llm: gateway down [trace_id=t1 stage=llm provider=x]",
        f"{local},121 INFO stockray.llm: fine [stage=llm]",
        "Traceback (most recent call last):",
        "{not json",
    ]  # fmt: skip
    log = tmp_path / "worker-1.err"
    log.write_text("\n".join(lines) + "\n")
    old = tmp_path / "old.log"
    old.write_text(lines[0] + "\n")
    stamp = (NOW - timedelta(hours=3)).timestamp()
    os.utime(old, (stamp, stamp))
    os.utime(log, (NOW.timestamp(), NOW.timestamp()))
    assert count_errors([log, old, tmp_path / "missing.log"], since) == (
        {"collect": 1, "-": 1, "llm": 1}, 1
    )  # fmt: skip
    assert error_stage(lines[0], NOW) is None  # written before `since`
    check = doctor.log_errors({"collect": 1, "-": 1, "llm": 1}, 1)
    assert check.status == "warn" and "3 ERROR lines" in check.detail
    assert doctor.log_errors({}, 4).status == "ok"
    assert doctor.log_errors({}, 0).status == "skip"


def test_freshness_against_the_schedules() -> None:
    settings = load_settings()
    now = NOW.timestamp()
    intervals = collection_intervals(settings, now)
    assert intervals[("AAPL", "prices")] == 900  # prices-intraday, shorter than prices-daily
    assert intervals[("AAPL", "news")] == 3600
    last = {pair: now - 60 for pair in intervals}
    last[("AAPL", "news")] = now - 3 * 3600  # three hourly runs missed
    last[("MSFT", "prices")] = now - 1700  # within two 900 s gaps
    del last[("AAPL", "prices")]  # never collected
    lags = stale(intervals, last, now)
    assert [(g.instrument, g.capability) for g in lags] == [("AAPL", "prices"), ("AAPL", "news")]
    check = doctor.freshness(lags, len(intervals))
    assert check.status == "warn" and "AAPL/prices never" in check.detail
    assert doctor.freshness([], len(intervals)).status == "ok"
    every = [Lag(i, c, None, g) for (i, c), g in intervals.items()]
    assert doctor.freshness(every, len(intervals)).status == "fail"
    assert doctor.freshness([], 0).status == "skip"


def test_prices_of_every_bar_interval_count_as_the_scheduled_prices() -> None:
    rows = [Freshness("AAPL", "prices:1d", 100.0), Freshness("AAPL", "prices:1h", 250.0),
            Freshness("AAPL", "news", 50.0), Freshness("MSFT", "prices:1d", 90.0)]  # fmt: skip
    assert last_success(rows) == {
        ("AAPL", "news"): 50.0, ("AAPL", "prices"): 250.0, ("MSFT", "prices"): 90.0
    }  # fmt: skip


def test_providers_circuits_quotas_and_silent_actors() -> None:
    closed = {"enabled": True, "circuit": {"state": "closed"}, "quota": {"exhausted": False}}
    health = {"yahoo": closed, "dart": {"enabled": False, "reason": "no API key"}}
    assert doctor.providers(health).status == "ok"
    opened = closed | {"circuit": {"state": "open", "consecutive_failures": 5}}
    assert doctor.providers(health | {"newsapi": opened}).status == "warn"
    spent = closed | {"quota": {"exhausted": True, "reset_at": "2026-12-03T00:00:00+00:00"}}
    assert "quota spent" in doctor.providers({"newsapi": spent}).detail
    silent = {"enabled": True, "error": "ActorDiedError"}
    assert doctor.providers(health | {"newsapi": opened, "x": silent}).status == "fail"


def test_llm_spend_against_the_budget() -> None:
    assert doctor.llm_spend(5.0, 1.0).status == "ok"
    assert doctor.llm_spend(5.0, 4.0).status == "warn"
    assert doctor.llm_spend(5.0, 5.0).status == "warn"
    assert doctor.llm_spend(5.0, 5.2).status == "fail"
    assert doctor.llm_spend(0.0, 0.0).status == "ok"


def _certificate(path: Path, days: float) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stockray.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_tls_certificate_expiry(tmp_path: Path) -> None:
    cert = tmp_path / "api.pem"
    grades = []
    for days in (90, 20, 3):
        _certificate(cert, days)
        probe = doctor_checks.Probe.load(load_settings(home=tmp_path, tls_cert_file=cert))
        grades.append(doctor_checks.tls_cert(probe).status)
    assert grades == ["ok", "warn", "fail"]
    unset = doctor_checks.Probe.load(load_settings(home=tmp_path))
    assert doctor_checks.tls_cert(unset).status == "skip"


def test_a_probe_that_hangs_or_raises_is_a_fail_line(tmp_path: Path) -> None:
    release = threading.Event()

    def hangs(_: object) -> Check:
        release.wait(30)
        return Check(name="slow", status="ok", detail="late")

    def raises(_: object) -> Check:
        raise OSError("connect to postgresql://u:hunter2hunter2@db/x refused")

    probe = doctor_checks.Probe.load(load_settings(home=tmp_path))
    found = runner._run_all(probe, [("slow", hangs), ("broken", raises)], 0.5)
    release.set()
    assert found["slow"].status == "fail" and "no answer in 0.5 s" in found["slow"].detail
    assert found["broken"].status == "fail" and found["broken"].detail.startswith("OSError")
    assert "hunter2hunter2" not in found["broken"].detail

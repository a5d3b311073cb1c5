"""`stockray doctor`'s verdicts: the report model and how each measured fact is graded.

Ray-free and I/O-free: `cluster/doctor_checks.py` measures (HTTP, SQL, psutil, the logs)
and hands the facts to these functions, so the thresholds are tested without a stack.
A check is `ok`, `warn` (look today), `fail` (act now: exit 1) or `skip` (not configured).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from core.freshness import Lag
from core.storage.backups import Backup
from core.storage.wal import Archiver

Status = Literal["ok", "warn", "fail", "skip"]
RANK: dict[str, int] = {"skip": 0, "ok": 1, "warn": 2, "fail": 3}
CIRCUIT_OPEN = "open"
LLM_SPEND_WARN = 0.8  # of the day's budget
WAL_READY_WARN = 16  # segments waiting for archive_command (16 MiB each)
STALE_SHOWN = 5  # stale pairs named on the line (all are in --json)


class Check(BaseModel):
    """One line of the report: `status  name  detail`; `value` is the measured fact."""

    name: str
    status: Status
    detail: str
    value: Any = None

    def line(self) -> str:
        """The check as one text line."""
        return f"{self.status:<4}  {self.name:<15} {self.detail}"


class Report(BaseModel):
    """The whole report (`--json`): `ok` is False when any check failed."""

    ok: bool
    checks: list[Check]

    @classmethod
    def of(cls, checks: Iterable[Check]) -> Report:
        """The report of `checks`, in their order."""
        found = list(checks)
        return cls(ok=all(c.status != "fail" for c in found), checks=found)

    @property
    def exit_code(self) -> int:
        """0 when nothing failed (warnings included), 1 when something did."""
        return 0 if self.ok else 1


def worst(*statuses: Status) -> Status:
    """The most severe of `statuses`."""
    return max(statuses, key=RANK.__getitem__)


def above(value: float, levels: tuple[float, float]) -> Status:
    """`fail` at or above levels[1], `warn` at or above levels[0], else `ok`."""
    return "fail" if value >= levels[1] else "warn" if value >= levels[0] else "ok"


def below(value: float, levels: tuple[float, float]) -> Status:
    """`fail` at or below levels[1], `warn` at or below levels[0], else `ok`."""
    return "fail" if value <= levels[1] else "warn" if value <= levels[0] else "ok"


def usage(name: str, used_pct: float, levels: tuple[float, float], what: str) -> Check:
    """Disk or memory: the used share against [warn, fail] percentages."""
    status = above(used_pct, levels)
    return Check(
        name=name,
        status=status,
        detail=f"{used_pct:.0f}% used of {what} (warn {levels[0]:g}%, fail {levels[1]:g}%)",
        value=round(used_pct, 1),
    )


def connections(used: int, limit: int, levels: tuple[float, float]) -> Check:
    """Postgres backends against what clients may open (max_connections less the reserved)."""
    pct = 100.0 * used / limit if limit > 0 else 100.0
    return Check(
        name="pg_connections",
        status=above(pct, levels),
        detail=f"{used} of {limit} connections ({pct:.0f}%; warn {levels[0]:g}%)",
        value={"used": used, "limit": limit},
    )


def _age_h(at: datetime, now: datetime) -> float:
    return max(0.0, (now - at).total_seconds() / 3600)


def _about(backup: Backup | None, now: datetime) -> str:
    if backup is None:
        return "none"
    verified = "verified" if backup.verified_at else "NOT verified"
    return f"{_age_h(backup.finished_at, now):.1f} h ago ({verified})"


def backup(
    logical: Backup | None, base: Backup | None, now: datetime, levels_h: tuple[float, float]
) -> Check:
    """The newest backup of either kind, graded by age (as `StockrayBackupOld` is); a warning
    too when that newest one was never verified."""
    detail = f"logical {_about(logical, now)}, base {_about(base, now)}"
    found = [b for b in (logical, base) if b is not None]
    if not found:
        return Check(
            name="backup",
            status="fail",
            detail=f"no backup recorded: run `stockray backup` ({detail})",
            value=None,
        )
    newest = max(found, key=lambda b: b.finished_at)
    age = _age_h(newest.finished_at, now)
    status = above(age, levels_h)
    if status == "ok" and newest.verified_at is None:
        status = "warn"
    return Check(
        name="backup",
        status=status,
        detail=f"{detail}; warn after {levels_h[0]:g} h, fail after {levels_h[1]:g} h",
        value={"newest_kind": newest.kind, "age_h": round(age, 2), "path": newest.path},
    )


def archiving(
    mode: str, stats: Archiver, ready: int | None, expected: bool, now: datetime
) -> Check:
    """WAL archiving (`archive_mode`, `pg_stat_archiver`, segments waiting): off is a warning
    (no point-in-time recovery), or a failure when it is `expected`; on, a failure newer than
    the last success fails, and a backlog of `WAL_READY_WARN` segments warns."""
    name = "wal_archiving"
    if mode == "off":
        why = "archive_mode is off: no point-in-time recovery"
        return Check(name=name, status="fail" if expected else "warn", detail=why)
    last_ok, last_bad = stats.last_archived_time, stats.last_failed_time
    ago = f"{(now - last_ok).total_seconds() / 60:.0f} min ago" if last_ok else "never"
    detail = f"last archived {stats.last_archived_wal or '-'} {ago}, {stats.failed_count} failed"
    status: Status = "ok"
    if last_bad is not None and (last_ok is None or last_bad > last_ok):
        status = "fail"
        detail = f"archive_command failing since {last_bad:%Y-%m-%d %H:%M}Z; {detail}"
    if ready is not None:
        detail += f", {ready} segments waiting"
        if ready >= WAL_READY_WARN:
            status = worst(status, "warn")
    value = {"failed": stats.failed_count, "ready": ready, "last": stats.last_archived_wal}
    return Check(name=name, status=status, detail=detail, value=value)


def log_errors(by_stage: dict[str, int], files: int) -> Check:
    """ERROR lines in the last hour's logs, by stage: any is a warning."""
    total = sum(by_stage.values())
    if files == 0:
        return Check(
            name="log_errors", status="skip", detail="no log files written in the last hour"
        )
    shown = ", ".join(f"{stage} {n}" for stage, n in sorted(by_stage.items(), key=lambda i: -i[1]))
    detail = (
        f"{total} ERROR lines in the last hour ({shown})"
        if total
        else "no ERROR lines in the last hour"
    )
    return Check(
        name="log_errors",
        status="warn" if total else "ok",
        detail=f"{detail}; {files} log files read",
        value=dict(sorted(by_stage.items())),
    )


def freshness(lags: list[Lag], scheduled: int) -> Check:
    """Scheduled (instrument, capability) pairs behind by more than two expected gaps: a
    warning; all of them behind (nothing collects) a failure."""
    if scheduled == 0:
        return Check(name="freshness", status="skip", detail="no collect schedule enabled")
    names = [
        f"{g.instrument}/{g.capability} "
        + ("never" if g.age_s is None else f"{g.age_s / 3600:.1f} h")
        + f" (due every {g.interval_s / 3600:.2g} h)"
        for g in lags[:STALE_SHOWN]
    ]
    more = f" and {len(lags) - STALE_SHOWN} more" if len(lags) > STALE_SHOWN else ""
    status: Status = "ok" if not lags else "fail" if len(lags) == scheduled else "warn"
    detail = f"{scheduled - len(lags)} of {scheduled} instrument/capability pairs on schedule"
    return Check(
        name="freshness",
        status=status,
        detail=detail + (f"; stale: {', '.join(names)}{more}" if lags else ""),
        value=[{"instrument": g.instrument, "capability": g.capability, "age_s": g.age_s,
                "interval_s": g.interval_s} for g in lags],
    )  # fmt: skip


def providers(health: dict[str, dict[str, Any]]) -> Check:
    """The router's health: an open circuit or a spent quota warns; a provider actor that did
    not answer fails."""
    lines, status = [], "ok"
    for name, h in sorted(health.items()):
        if not h.get("enabled", True):
            continue
        if h.get("error"):
            lines.append(f"{name} did not answer ({h['error']})")
            status = worst(status, "fail")
            continue
        quota, circuit = h.get("quota") or {}, h.get("circuit") or {}
        if quota.get("exhausted"):
            lines.append(f"{name} quota spent until {quota.get('reset_at')}")
            status = worst(status, "warn")
        elif circuit.get("state") == CIRCUIT_OPEN:
            lines.append(f"{name} circuit open ({circuit.get('consecutive_failures')} failures)")
            status = worst(status, "warn")
    enabled = sum(1 for h in health.values() if h.get("enabled", True))
    detail = "; ".join(lines) or f"{enabled} providers enabled, circuits closed, quotas left"
    return Check(name="providers", status=status, detail=detail, value=health)


def llm_spend(limit_usd: float, spent_usd: float) -> Check:
    """Today's LLM spend (reserved calls included) against the daily budget: warn from 80 %
    (at 100 % answers fall back to the lexicon), fail beyond it (the ledger let it pass)."""
    pct = 100.0 * spent_usd / limit_usd if limit_usd > 0 else 0.0
    if spent_usd > limit_usd + 1e-9:
        status: Status = "fail"
    elif limit_usd > 0 and spent_usd >= LLM_SPEND_WARN * limit_usd:
        status = "warn"
    else:
        status = "ok"
    return Check(
        name="llm_spend",
        status=status,
        detail=f"${spent_usd:.4f} of ${limit_usd:.2f} today (UTC, {pct:.0f}%)",
        value={"spent_usd": spent_usd, "limit_usd": limit_usd},
    )


def certificate(
    path: str, not_after: datetime, now: datetime, levels_days: tuple[float, float]
) -> Check:
    """The TLS certificate's days left against [warn, fail] days."""
    days = (not_after - now).total_seconds() / 86400
    state = "expired" if days <= 0 else f"expires in {days:.0f} days"
    return Check(
        name="tls_cert",
        status=below(days, levels_days),
        detail=f"{path} {state} ({not_after:%Y-%m-%d %H:%M}Z; warn under {levels_days[0]:g} days)",
        value=round(days, 2),
    )

"""`python -m jobs.backfill`: fill history for instruments over a date range, resumably.

    python -m jobs.backfill --tickers AAPL,005930.KS --start 2015-01-01 --end 2024-12-31 \\
        [--interval 1d] [--capabilities prices,news,disclosures] [--chunk-days N]

The range is split into chunks (instrument x capability x period) run as Ray tasks. Each
finished chunk is checkpointed in Postgres in the same transaction as its rows, so a
re-submitted backfill (same arguments → same backfill id) skips what is done. Progress
lines go to the job log; the last line is a JSON summary. Exit 1 names the chunks that
failed for good (the others still complete); exit 2 is a bad argument, before any work.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import ray

from actors.events import publish
from configs.settings import Settings, load_settings
from core.collection import Counts, save_disclosures, save_fundamentals, save_news, save_prices
from core.errors import ProviderError
from core.events import BackfillProgress, Collected
from core.jobs import BackfillRequest, BackfillSummary, UsageError
from core.models import Capability, Instrument
from core.storage import checkpoints, job_runs
from core.storage.db import connect
from core.storage.lake import Lake
from jobs.collect_plan import serves
from jobs.common import (
    TASK_SCHEDULING,
    Progress,
    connect_cluster,
    describe_error,
    in_flight_for,
    instruments_arg,
    job_logging,
    load_job_settings,
    new_trace_id,
    read_request,
    run_bounded,
    run_task,
    summary_line,
    usage_error,
)

PROG = "jobs.backfill"
log = logging.getLogger("stockray.jobs.backfill")
DEFAULT_CHUNK_DAYS = {
    "prices": 366, "prices_intraday": 7, "news": 30, "disclosures": 366, "fundamentals": 366,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Chunk:
    """One unit of work: an instrument's capability over [start, end)."""

    instrument: Instrument
    capability: Capability
    start: datetime
    end: datetime

    @property
    def key(self) -> tuple[str, str, datetime]:
        """The checkpoint key."""
        return (self.instrument.id, self.capability.value, self.start)

    @property
    def name(self) -> str:
        """How the summary names the chunk."""
        return f"{self.instrument.id}/{self.capability.value}/{self.start.date()}"


def enabled_providers() -> set[str]:
    """Providers the cluster's router can use (it holds the keys, not this shell)."""
    from actors.providers import router_handle

    health = ray.get(router_handle().health.remote(), timeout=60)
    return {name for name, h in health.items() if h.get("enabled")}


class Checked(TypedDict):
    """A checked backfill: the instruments and capabilities, over [start, end)."""

    instruments: list[Instrument]
    capabilities: list[Capability]
    start: datetime
    end: datetime


def validate(
    settings: Settings, request: BackfillRequest, now: datetime, enabled: set[str]
) -> Checked:
    """Check the request against the config and the providers (`Backfill.problems`, as the
    API does); raise UsageError with the first problem."""
    request.check(settings, now, enabled)
    start, end = request.period(now)
    return Checked(
        instruments=instruments_arg(settings, request.tickers),
        capabilities=list(request.capabilities),
        start=start,
        end=end,
    )


def chunk_days(capability: Capability, interval: str, override: int | None) -> int:
    """Days per chunk: the override, else a size that keeps each fetch one modest request."""
    if override:
        return override
    if capability is Capability.PRICES:
        return DEFAULT_CHUNK_DAYS["prices" if interval == "1d" else "prices_intraday"]
    return DEFAULT_CHUNK_DAYS[capability.value]


def plan(settings: Settings, plan_args: Checked, interval: str, days: int | None) -> list[Chunk]:
    """Every chunk of the backfill, in instrument, capability, time order."""
    chunks = []
    for instrument in plan_args["instruments"]:
        for capability in plan_args["capabilities"]:
            if not serves(settings, capability, instrument):
                continue
            step = timedelta(days=chunk_days(capability, interval, days))
            at = plan_args["start"]
            while at < plan_args["end"]:
                chunks.append(Chunk(instrument, capability, at, min(at + step, plan_args["end"])))
                at += step
    return chunks


def backfill_id(params: dict[str, Any]) -> str:
    """Same arguments, same id: that is what makes a re-submission resume."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    return f"bf-{digest[:16]}"


async def _run_chunk(bf_id: str, chunk: Chunk, interval: str) -> dict[str, Any]:
    from actors.dedupe import make_dedupe
    from actors.providers import router_handle

    settings = load_settings()
    router = router_handle()
    lake = Lake(settings.home / "lake")
    cap = chunk.capability
    conn = await connect(settings.database_url.get_secret_value())
    try:
        if cap is Capability.PRICES:
            routed = await router.fetch_bars.remote(
                chunk.instrument, chunk.start, chunk.end, interval
            )
        elif cap is Capability.NEWS:
            routed = await router.fetch_news.remote(chunk.instrument, chunk.start, chunk.end, 1000)
        elif cap is Capability.FUNDAMENTALS:
            routed = await router.fetch_fundamentals.remote(
                chunk.instrument, chunk.start, chunk.end
            )
        else:
            routed = await router.fetch_disclosures.remote(chunk.instrument, chunk.start, chunk.end)
        rows = len(routed.result.bars) if cap is Capability.PRICES else len(routed.result)

        async def checkpoint(tx: Any) -> None:
            await checkpoints.mark_chunk(
                tx, bf_id, chunk.instrument.id, cap.value, interval, chunk.start, chunk.end,
                "done", rows, routed.provider, None,
            )  # fmt: skip

        if cap is Capability.PRICES:
            counts = await save_prices(conn, lake, routed.result, chunk.end, checkpoint)
        elif cap is Capability.NEWS:
            dedupe = await make_dedupe(settings)
            counts = await save_news(
                conn, lake, chunk.instrument.id, routed.provider, routed.result, dedupe, checkpoint
            )
        elif cap is Capability.FUNDAMENTALS:
            counts = await save_fundamentals(
                conn, chunk.instrument.id, routed.provider, routed.result, chunk.end, checkpoint
            )
        else:
            counts = await save_disclosures(
                conn, chunk.instrument.id, routed.provider, routed.result, checkpoint
            )
        log.info(
            "chunk %s: %s", chunk.name, counts.as_dict(),
            extra={"provider": routed.provider, "status": "done"},
        )  # fmt: skip
        return {"counts": counts.as_dict(), "provider": routed.provider}
    except ProviderError as err:
        await checkpoints.mark_chunk(
            conn, bf_id, chunk.instrument.id, cap.value, interval, chunk.start, chunk.end,
            "failed", 0, getattr(err, "provider", None), describe_error(err),
        )  # fmt: skip
        log.warning(
            "chunk %s failed: %s", chunk.name, describe_error(err),
            extra={"provider": getattr(err, "provider", None), "status": "failed"},
        )  # fmt: skip
        return {"error": describe_error(err)}
    finally:
        await conn.close()


@ray.remote(num_cpus=0, max_retries=3, retry_exceptions=False, scheduling_strategy=TASK_SCHEDULING)
def run_chunk(bf_id: str, chunk: Chunk, interval: str, trace_id: str) -> dict[str, Any]:
    """One chunk (a Ray task; retried by Ray if its worker or node dies — writes are
    idempotent)."""
    return run_task(
        lambda: _run_chunk(bf_id, chunk, interval), trace_id, "backfill", chunk.instrument.id
    )


def parse_args(argv: Sequence[str] | None = None) -> BackfillRequest:
    """The command line as the job's request (`BackfillRequest.from_argv`)."""
    return read_request(BackfillRequest, PROG, argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 all chunks done, 1 some failed (named), 2 bad arguments."""
    request = parse_args(argv)
    settings = load_job_settings(PROG)
    now = datetime.now(UTC)
    connect_cluster()
    try:
        checked = validate(settings, request, now, enabled_providers())
    except UsageError as exc:
        usage_error(PROG, str(exc))
    interval = request.interval
    params = {
        "tickers": [i.id for i in checked["instruments"]],
        "capabilities": [c.value for c in checked["capabilities"]],
        "start": request.start.isoformat(),
        "end": request.end.isoformat(),
        "interval": interval,
        "chunk_days": request.chunk_days,
    }
    bf_id = backfill_id(params)
    trace_id = request.trace_id or new_trace_id()
    job_logging(settings, trace_id, "backfill")
    chunks = plan(settings, checked, interval, request.chunk_days)
    summary = asyncio.run(
        _execute(settings, bf_id, trace_id, params, chunks, interval, checked, request.refetch)
    )
    summary_line(summary)
    return 1 if summary.chunks_failed else 0


async def _execute(
    settings: Settings,
    bf_id: str,
    trace_id: str,
    params: dict[str, Any],
    chunks: list[Chunk],
    interval: str,
    checked: Checked,
    refetch: bool = False,
) -> BackfillSummary:
    conn = await connect(settings.database_url.get_secret_value())
    try:
        # Writes are idempotent, so a refetch changes only rows the providers now answer
        # differently (and marks its chunks done again).
        done = set() if refetch else await checkpoints.done_chunks(conn, bf_id)
        todo = [c for c in chunks if c.key not in done]
        run_id = await job_runs.start_run(conn, "backfill", trace_id, {**params, "id": bf_id})
        print(f"{PROG}: {bf_id}: {len(chunks)} chunks, {len(chunks) - len(todo)} already done")
        progress = Progress(PROG, len(todo))
        totals, failed, by_node = Counts(), {}, Counter()
        in_flight = in_flight_for(settings, checked["capabilities"])
        for chunk, result in run_bounded(
            lambda c: run_chunk.remote(bf_id, c, interval, trace_id), todo, in_flight
        ):
            if isinstance(result, dict):
                by_node[result["node_id"]] += 1
            if isinstance(result, Exception) or "error" in result:
                failed[chunk.name] = (
                    result["error"] if isinstance(result, dict) else (describe_error(result))
                )
                progress.step(0)
            else:
                totals += Counts(**result["counts"])
                progress.step(result["counts"]["fetched"])
                if result["counts"]["saved"]:  # the API's caches of this instrument drop
                    await publish(
                        Collected(instrument=chunk.instrument.id, counts=result["counts"],
                                  providers={chunk.capability.value: result.get("provider")},
                                  errors={}, backfill_id=bf_id),
                        chunk.instrument.id,
                    )  # fmt: skip
            if progress.done % 10 == 0 or progress.done == len(todo):
                counts = _counts(progress, totals, len(failed))
                await job_runs.update_counts(conn, run_id, counts)
                await publish(
                    BackfillProgress(run_id=str(run_id), trace_id=trace_id, backfill_id=bf_id,
                                     done=progress.done, total=len(todo), counts=counts),
                )  # fmt: skip
        summary = BackfillSummary(
            backfill_id=bf_id,
            run_id=str(run_id),
            trace_id=trace_id,
            chunks_total=len(chunks),
            chunks_skipped=len(chunks) - len(todo),
            chunks_done=len(todo) - len(failed),
            chunks_failed=failed,
            rows=progress.rows,
            rows_per_s=round(progress.rows_per_s, 1),
            counts=totals,
            chunks_by_node=dict(by_node),
        )
        status = "failed" if failed else "succeeded"
        error = f"{len(failed)} chunks failed: {', '.join(sorted(failed))}" if failed else None
        await job_runs.finish_run(
            conn, run_id, status, _counts(progress, totals, len(failed)), error
        )
        return summary
    finally:
        await conn.close()


def _counts(progress: Progress, totals: Counts, failed: int) -> dict[str, Any]:
    return {
        **totals.as_dict(),
        "chunks_done": progress.done - failed,
        "chunks_failed": failed,
        "chunks_total": progress.total,
    }


if __name__ == "__main__":
    raise SystemExit(main())

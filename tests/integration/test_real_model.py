"""The gateway and the analysis on a real local model: llama.cpp's server (gemma3 270M).

The model is small and weak: every assertion is about an invariant (answers valid for
their schema, citations naming inputs, every paid call recorded, the budget settled),
never about what it says. Small prompts and small `max_tokens` keep the module quick.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from configs.sections import LlmConfig
from configs.settings import load_settings
from core.analysis.pipeline import analyze_articles, write_report
from core.analysis.prompts import ArticleVerdict, ArticleVerdicts, article_messages
from core.collection import save_news
from core.errors import ContextTooLong, InvalidAnswer
from core.llm.budget import spent_by_run
from core.llm.cost import cost_micro
from core.llm.gateway import LLMGateway
from core.providers import NewsApiClient
from core.storage import job_runs
from core.storage.db import connect, create_pool, sync_instruments
from core.storage.dedupe import MemoryDedupe
from core.storage.migrations import migrate
from sim.llamacpp import LlamaServer
from sim.server import SimServer
from tests.llama_server import N_CTX

pytestmark = pytest.mark.timeout(600)

CONFIG = Path(__file__).resolve().parent / "configs" / "llamacpp" / "llm.yaml"
START, END = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 15, tzinfo=UTC)
TICKERS = ("AAPL", "MSFT")
PER_TICKER = 1  # article: one small batch each
# max_tokens at most this: a weak model may ramble to whatever it is given, and under a JSON
# grammar over gemma's 262k-token vocabulary each token costs a tenth of a second or more.
ANSWER_CAP = 64


def _config() -> LlmConfig:
    return LlmConfig.model_validate(yaml.safe_load(CONFIG.read_text()))


def _gateway(pool, llama: LlamaServer, sim: SimServer, *names: str, **overrides) -> LLMGateway:
    """A gateway on the endpoints `names` of the llama.cpp config (`local`, then `sim`)."""
    config = _config()
    urls = {"local": llama.base_url, "sim": sim.urls["llm"] + "/v1"}
    endpoints = [
        (e.model_copy(update={"base_url": urls[e.name], **overrides.get(e.name, {})}), "k")
        for e in config.endpoints
        if e.name in names
    ]
    assert endpoints[0][0].context_window == llama.n_ctx == N_CTX
    return LLMGateway(
        endpoints, load_settings().pricing.models, pool, daily_usd=1.0, per_call_usd=0.05,
        retry=config.retry, cooldown_s=config.cooldown_s,
    )  # fmt: skip


class UsageTap:
    """The `usage` of every completed (non-streamed) answer, as read off the wire; `sent`
    is set once a request has gone out."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []
        self.sent = asyncio.Event()

    async def on_request(self, request: httpx.Request) -> None:
        self.sent.set()

    async def hook(self, response: httpx.Response) -> None:
        kind = response.headers.get("content-type", "")
        if response.status_code == 200 and kind.startswith("application/json"):
            await response.aread()
            usage = response.json().get("usage")
            if usage:
                self.seen.append((usage["prompt_tokens"], usage["completion_tokens"]))


def _tap(gateway: LLMGateway, name: str) -> UsageTap:
    """Route the endpoint `name`'s requests through a client that records each `usage`."""
    tap = UsageTap()
    ep = next(e for e in gateway.endpoints if e.config.name == name)
    hooks = {"request": [tap.on_request], "response": [tap.hook]}
    http = httpx.AsyncClient(event_hooks=hooks, timeout=ep.config.timeout_s)
    ep.client = openai.AsyncOpenAI(
        base_url=ep.config.base_url, api_key="k", max_retries=0, http_client=http
    )
    return tap


class Capped:
    """The gateway's `complete` and `stream` with `max_tokens` at most `ANSWER_CAP`."""

    def __init__(self, gateway: LLMGateway) -> None:
        self.gateway = gateway

    async def complete(self, messages, *, max_tokens: int = 512, **kwargs: Any):
        return await self.gateway.complete(
            messages, max_tokens=min(max_tokens, ANSWER_CAP), **kwargs
        )

    async def stream(self, messages, *, max_tokens: int = 512, **kwargs: Any):
        async for item in self.gateway.stream(
            messages, max_tokens=min(max_tokens, ANSWER_CAP), **kwargs
        ):
            yield item


async def _ledger(pool) -> tuple[int, int, int, list]:
    """(spent, reserved, recorded) micro-dollars today, and every llm_usage row."""
    budget = await pool.fetchrow("SELECT spent_micro, reserved_micro FROM llm_budget")
    rows = await pool.fetch("SELECT * FROM llm_usage ORDER BY at")
    recorded = sum(r["cost_micro"] for r in rows)
    return budget["spent_micro"], budget["reserved_micro"], recorded, rows


@pytest.fixture
async def news(fresh_dsn: str, sim: SimServer):
    """A migrated database with a few articles per ticker from the sim."""
    sim.clear_faults()
    instruments = {i.id: i.to_instrument() for i in load_settings().watchlist.instruments}
    conn = await connect(fresh_dsn)
    await migrate(conn)
    await sync_instruments(conn, instruments.values())
    client = NewsApiClient(sim.urls["newsapi"], api_key="k")
    for ticker in TICKERS:
        articles = await client.fetch_news(instruments[ticker], START, END, limit=PER_TICKER)
        await save_news(conn, None, ticker, "newsapi", articles, MemoryDedupe(60))
    await client.aclose()
    pool = await create_pool(fresh_dsn, max_size=8)
    yield conn, pool, instruments
    await pool.close()
    await conn.close()
    sim.clear_faults()


def _citations(value: Any) -> list[str]:
    """Every string in any `citations` list inside a report column, however nested."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "citations" and isinstance(item, list):
                found += [c for c in item if isinstance(c, str)]
            else:
                found += _citations(item)
    elif isinstance(value, list):
        for item in value:
            found += _citations(item)
    return found


async def _assert_cited_inputs_only(conn, instrument_id: str, report_id: str) -> None:
    row = await conn.fetchrow("SELECT * FROM reports WHERE id = $1::uuid", report_id)
    assert row["status"] == "published"
    linked = {
        r["fingerprint"]
        for r in await conn.fetch(
            "SELECT fingerprint FROM article_instruments WHERE instrument_id = $1", instrument_id
        )
    }
    data = dict(row)
    facts = data.get("facts") or []
    inputs = linked | {f["id"] for f in facts if isinstance(f, dict) and "id" in f}
    cited = list(data.pop("citations")) + _citations(list(data.values()))
    assert set(cited) <= inputs, set(cited) - inputs


async def test_real_server_refuses_json_schema_and_answers_json_object_schema(
    migrated_pool, llama_server, sim
) -> None:
    gateway = _gateway(
        migrated_pool, llama_server, sim, "local", local={"structured": "json_schema"}
    )
    tap = _tap(gateway, "local")
    settings = load_settings()
    instruments = {i.id: i.to_instrument() for i in settings.watchlist.instruments}
    news = await _sim_articles(sim, instruments["AAPL"], 2)
    messages, ids = article_messages(instruments["AAPL"], news, "en")
    try:
        done = await gateway.complete(
            messages,
            max_tokens=ANSWER_CAP,
            schema=ArticleVerdicts,
            ids=sorted(ids),
            trace_id="t-fmt",
        )
        assert {v.id for v in done.parsed.articles} <= set(ids)  # the schema's enum held
    except InvalidAnswer:
        # The weak model's answer (and its one repair) did not fit the schema, e.g. cut at
        # ANSWER_CAP tokens: refused, never stored. The format and the accounting still hold.
        done = None
    health = gateway.health()[0]
    assert (health["configured"], health["structured"]) == ("json_schema", "json_object_schema")
    assert len(health["downgrades"]) == 1 and health["cooling_s"] == 0
    spent, reserved, recorded, rows = await _ledger(migrated_pool)
    assert rows[0]["status"] == "error" and len(rows) >= 2, rows  # the refusal, then answers
    # A failed repair leaves one more row, status `invalid` at no cost, keeping the raw text.
    marker = [r for r in rows[1:] if r["status"] == "invalid"]
    assert len(marker) == (1 if done is None else 0)
    assert all((r["tokens_in"], r["tokens_out"], r["cost_micro"]) == (0, 0, 0) for r in marker)
    rows = [rows[0], *(r for r in rows[1:] if r["status"] != "invalid")]
    assert rows[0]["detail"].startswith("FormatRefused: 500") and rows[0]["cost_micro"] == 0
    # Every answer the server sent is recorded with the server's own token count, priced
    # from it, whether or not it passed the schema.
    assert tap.seen == [(r["tokens_in"], r["tokens_out"]) for r in rows[1:]]
    price = settings.pricing.models["gpt-4o-mini"]
    paid = zip(rows[1:], tap.seen, strict=True)
    assert all(r["cost_micro"] == cost_micro(price, *seen) > 0 for r, seen in paid)
    assert (spent, reserved) == (recorded, 0)
    await gateway.aclose()


async def _sim_articles(sim: SimServer, instrument, n: int) -> list:
    client = NewsApiClient(sim.urls["newsapi"], api_key="k")
    try:
        return await client.fetch_news(instrument, START, END, limit=n)
    finally:
        await client.aclose()


async def test_analysis_run_on_the_real_model_stores_only_valid_cited_accounted_results(
    news, llama_server, sim
) -> None:
    conn, pool, instruments = news
    gateway = _gateway(pool, llama_server, sim, "local")
    tap = _tap(gateway, "local")
    complete, trace = Capped(gateway).complete, "t-real-run"
    failed, degraded = {}, {}
    run_id = await job_runs.start_run(conn, "analyze", trace, {"tickers": list(TICKERS)})
    for ticker in TICKERS:  # what `jobs.analyze` does per instrument, and for the run
        counts = await analyze_articles(
            conn, instruments[ticker], START, END, complete, "en", trace
        )
        report = await write_report(
            conn, instruments[ticker], START, END, "14d", complete, "en", trace, counts["degraded"]
        )
        if report.get("error") or counts["failed"]:
            failed[ticker] = report.get("error") or counts.get("errors")
        if why := counts.get("degraded") or report.get("degraded") or report.get("note"):
            degraded[ticker] = why
        assert counts["analysed"] == counts["articles"] - counts["skipped"] > 0
        assert report["report_id"], report  # never blank
        await _assert_cited_inputs_only(conn, ticker, report["report_id"])
    calls, _ = await spent_by_run(conn, trace, run_id)  # the run's count of paid calls
    status = "failed" if failed else "degraded" if degraded else "succeeded"
    await job_runs.finish_run(conn, run_id, status, {"llm_calls": calls}, str(failed or ""))
    ended = await conn.fetchval("SELECT status FROM job_runs WHERE id = $1", run_id)
    assert ended in ("succeeded", "degraded"), failed

    # Stored verdicts: the model's are valid answers; the rest are the lexicon's, marked so.
    rows = await conn.fetch("SELECT * FROM analyses")
    assert rows and {r["method"] for r in rows} <= {"llm", "lexicon"}
    for r in rows:
        if r["method"] == "llm":
            assert r["model"] == "gpt-4o-mini"
            ArticleVerdict.model_validate({"id": "a1", **{k: r[k] for k in _VERDICT}})
        else:
            assert r["model"] is None and r["gist"].startswith("lexicon")
    # Every answered call is recorded with the server's own tokens, and nothing else is paid.
    spent, reserved, recorded, usage = await _ledger(pool)
    answered = [(u["tokens_in"], u["tokens_out"]) for u in usage if u["cost_micro"] > 0]
    assert Counter(answered) == Counter(tap.seen) and len(tap.seen) == calls > 0
    assert all(u["status"] in ("ok", "invalid", "error") for u in usage)
    assert (spent, reserved) == (recorded, 0)
    await gateway.aclose()


_VERDICT = ("sentiment", "label", "relevance", "gist")


async def test_context_overflow_at_the_real_window_moves_to_a_larger_one(
    migrated_pool, llama_server, sim
) -> None:
    gateway = _gateway(migrated_pool, llama_server, sim, "local", "sim")
    tap = _tap(gateway, "local")
    # Over the server's n_ctx (one token per " word"), well under the sim's 8192.
    too_long = [{"role": "user", "content": "word " * (N_CTX + 200) + "\nSay hello."}]
    done = await gateway.complete(too_long, max_tokens=32, trace_id="t-over")
    assert done.endpoint == "sim" and done.text
    spent, reserved, recorded, rows = await _ledger(migrated_pool)
    local = [r for r in rows if r["endpoint"] == "local"]
    assert [r["status"] for r in local] == ["error"] and tap.seen == []  # refused, not answered
    assert local[0]["detail"].startswith("ContextTooLong: ")
    assert f"maximum context length is {N_CTX} tokens" in local[0]["detail"]
    assert local[0]["cost_micro"] == 0 and (spent, reserved) == (recorded, 0)

    # A prompt that fits, but whose answer the window cuts: the server shortens max_tokens
    # to what is left of n_ctx; the gateway sees the cut, charges it, and moves on too.
    fill = await _prompt_of(llama_server, N_CTX - 12)
    done = await gateway.complete(fill, max_tokens=200, trace_id="t-cut")
    assert done.endpoint == "sim"
    cut = [r for r in await migrated_pool.fetch(
        "SELECT * FROM llm_usage WHERE trace_id = 't-cut' AND endpoint = 'local'"
    )]  # fmt: skip
    assert len(cut) == 1 and cut[0]["detail"].startswith("WindowCut: the answer was cut")
    assert tap.seen == [(cut[0]["tokens_in"], cut[0]["tokens_out"])]
    assert cut[0]["tokens_in"] + cut[0]["tokens_out"] == N_CTX and cut[0]["cost_micro"] > 0
    spent, reserved, recorded, _ = await _ledger(migrated_pool)
    assert (spent, reserved) == (recorded, 0)
    with pytest.raises(ContextTooLong):  # with no larger window left, the caller hears it
        local_only = _gateway(migrated_pool, llama_server, sim, "local")
        try:
            await local_only.complete(too_long, max_tokens=32)
        finally:
            await local_only.aclose()
    await gateway.aclose()


async def _prompt_of(llama: LlamaServer, tokens: int) -> list[dict[str, str]]:
    """A story request padded to exactly `tokens` prompt tokens on the server."""

    def messages(pad: int) -> list[dict[str, str]]:
        text = "word " * pad + "\nNow write a long story about a lighthouse keeper."
        return [{"role": "user", "content": text}]

    async with openai.AsyncOpenAI(base_url=llama.base_url, api_key="k") as client:
        probe = await client.chat.completions.create(
            model=llama.alias, messages=messages(100), max_tokens=1
        )
    pad = 100 + tokens - probe.usage.prompt_tokens
    return messages(pad)


@pytest.mark.parametrize("behind", ["sim", None], ids=["to-sim", "to-lexicon"])
async def test_killing_the_server_mid_run_fails_over_with_the_budget_settled(
    news, own_llama_server, sim, behind
) -> None:
    conn, pool, instruments = news
    gateway = _gateway(pool, own_llama_server, sim, "local", *([behind] if behind else []))
    tap = _tap(gateway, "local")
    complete = Capped(gateway).complete

    async def kill_once_asked() -> None:
        await tap.sent.wait()
        await asyncio.sleep(1.0)  # the first batch is in the model's hands by now
        await asyncio.to_thread(own_llama_server.kill)

    killer = asyncio.create_task(kill_once_asked())
    aapl = instruments["AAPL"]
    counts = await analyze_articles(conn, aapl, START, END, complete, "en", "t-kill")
    report = await write_report(conn, aapl, START, END, "14d", complete, "en", "t-kill")
    await killer
    assert counts["analysed"] == counts["articles"] - counts["skipped"] > 0
    assert report["report_id"] and counts["failed"] == 0
    spent, reserved, recorded, rows = await _ledger(pool)
    local = [r for r in rows if r["endpoint"] == "local"]
    assert tap.seen == []  # the killed call never answered
    assert local and all(r["status"] == "error" for r in local)
    assert all(r["detail"].startswith("LLMTransient: connection") for r in local), local
    assert sum(r["cost_micro"] for r in local) == 0
    assert gateway.health()[0]["cooling_s"] > 0
    methods = {r["method"] for r in await conn.fetch("SELECT method FROM analyses")}
    if behind:  # failed over to the next endpoint
        assert {r["endpoint"] for r in rows if r["status"] == "ok"} == {"sim"}
        assert methods == {"llm"}  # (the report may not fit ANSWER_CAP: either way, published)
    else:  # nothing left to ask: the lexicon answers, and says why
        assert not [r for r in rows if r["status"] == "ok"]
        assert methods == {"lexicon"} and report["method"] == "lexicon"
        assert "LLMTransient" in counts["degraded"] and report["degraded"]
    assert (spent, reserved) == (recorded, 0)  # no reservation leaked by the broken call
    await gateway.aclose()


async def test_chat_streams_from_the_real_model(fresh_dsn, llama_server, sim) -> None:
    from core.storage.api_keys import create_key
    from serve_app.app import build_api
    from serve_app.chat import ChatService
    from serve_app.context import AppContext

    settings = load_settings(database_url=fresh_dsn)
    conn = await connect(fresh_dsn)
    await migrate(conn)
    instruments = {i.id: i.to_instrument() for i in settings.watchlist.instruments}
    await sync_instruments(conn, instruments.values())
    aapl = instruments["AAPL"]
    articles = await _sim_articles(sim, aapl, PER_TICKER)  # a grounding that fits n_ctx
    await save_news(conn, None, "AAPL", "newsapi", articles, MemoryDedupe(60))
    await analyze_articles(conn, aapl, START, END, None, "en")
    await write_report(conn, aapl, START, END, "14d", None, "en")
    _, key = await create_key(conn, "alice", "write")
    ctx = AppContext(settings)
    gateway = _gateway(await ctx.pool(), llama_server, sim, "local")
    ctx.chat = ChatService(ctx.pool, Capped(gateway))
    app = build_api()
    app.state.context = ctx
    auth = {"Authorization": f"Bearer {key}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=120) as http:
        made = await http.post("/api/v1/chat/sessions", json={"instrument": "AAPL"}, headers=auth)
        sid = made.json()["id"]
        async with http.stream(
            "POST", f"/api/v1/chat/sessions/{sid}/messages",
            json={"content": "What happened to Apple?"},
            headers={**auth, "Accept": "text/event-stream"},
        ) as streamed:  # fmt: skip
            assert streamed.status_code == 200
            body = "".join([chunk async for chunk in streamed.aiter_text()])
    events = [
        (dict(line.split(": ", 1) for line in block.splitlines()))
        for block in body.strip().split("\n\n")
    ]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "token" in kinds, kinds
    done = json.loads(events[-1]["data"])
    assert done["method"] == "llm" and done["model"] == "gpt-4o-mini"
    # the model's text as streamed, less any citation to a source it was not given
    tokens = "".join(json.loads(e["data"])["text"] for e in events if e["event"] == "token")
    assert done["content"] and (done["content"] == tokens or done["detail"]["dropped_citations"])
    refs = {r["fingerprint"] for r in await conn.fetch("SELECT fingerprint FROM articles")}
    refs |= {str(r["id"]) for r in await conn.fetch("SELECT id FROM reports")}
    assert all(c["ref"] in refs for c in done["citations"])
    spent, reserved, recorded, usage = await _ledger(await ctx.pool())
    assert [(u["purpose"], u["status"]) for u in usage] == [("chat", "ok")]
    assert usage[0]["cost_micro"] == round(done["cost_usd"] * 1e6) > 0
    assert usage[0]["tokens_in"] > 0 and usage[0]["tokens_out"] > 0
    assert (spent, reserved) == (recorded, 0)
    await gateway.aclose()
    await ctx.close()
    await conn.close()

"""Chat on real Postgres data from the sim and the sim's LLM: in-process ASGI and through Serve."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from configs.sections import LlmEndpoint, ModelPrice, RetryPolicy
from configs.settings import load_settings
from core.analysis.pipeline import analyze_articles, write_report
from core.collection import save_news
from core.llm.gateway import LLMGateway
from core.providers import NewsApiClient
from core.storage.api_keys import create_key, key_prefix, set_chat_quota
from core.storage.db import connect, sync_instruments
from core.storage.dedupe import MemoryDedupe
from core.storage.migrations import migrate
from serve_app.app import build_api
from serve_app.chat import ChatService
from serve_app.context import AppContext
from sim.server import SimServer

START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
PRICES = {"sim-llm": ModelPrice(input_per_mtok=0.10, output_per_mtok=0.40)}
RETRY = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.05, deadline_s=10)
SSE = {"Accept": "text/event-stream"}


async def _seed(conn: asyncpg.Connection, sim: SimServer, settings) -> None:
    """AAPL's news from the sim, scored by the lexicon, and a published report."""
    instruments = {i.id: i.to_instrument() for i in settings.watchlist.instruments}
    await sync_instruments(conn, instruments.values())
    aapl = instruments["AAPL"]
    newsapi = NewsApiClient(sim.urls["newsapi"], api_key="k")
    articles = await newsapi.fetch_news(aapl, START, END, limit=60)
    await save_news(conn, None, "AAPL", "newsapi", articles, MemoryDedupe(60))
    await newsapi.aclose()
    await analyze_articles(conn, aapl, START, END, None, "en")
    await write_report(conn, aapl, START, END, "60d", None, "en")


def _gateway(pool, sim: SimServer, per_call_usd: float = 0.05) -> LLMGateway:
    endpoint = LlmEndpoint(
        name="sim", base_url=sim.urls["llm"] + "/v1", model="sim-llm", context_window=8192,
        rpm=6000, max_concurrency=8, timeout_s=5,
    )  # fmt: skip
    return LLMGateway(
        [(endpoint, "test-key")], PRICES, pool, daily_usd=1.0, per_call_usd=per_call_usd,
        retry=RETRY, cooldown_s=1,
    )  # fmt: skip


class Api:
    """An in-process API whose chat service is a local `ChatService`."""

    def __init__(self, http: httpx.AsyncClient, conn, keys: dict[str, str], ctx) -> None:
        self.http, self.conn, self.keys, self.ctx = http, conn, keys, ctx

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def session(self, who: str = "alice", instrument: str = "AAPL") -> str:
        made = await self.http.post(
            "/api/v1/chat/sessions", json={"instrument": instrument}, headers=self.auth(who)
        )
        assert made.status_code == 201, made.text
        return made.json()["id"]

    async def ask(self, sid: str, content: str, who: str = "alice", **headers: str):
        return await self.http.post(
            f"/api/v1/chat/sessions/{sid}/messages", json={"content": content},
            headers={**self.auth(who), **headers},
        )  # fmt: skip

    async def use_llm(self, llm) -> None:
        self.ctx.chat.llm = llm


@pytest.fixture
async def api(fresh_dsn: str, sim: SimServer):
    """Alice and Bob (write keys), Reader (read key); AAPL seeded; chat with the sim's LLM."""
    sim.clear_faults()
    settings = load_settings(database_url=fresh_dsn)
    conn = await connect(fresh_dsn)
    await migrate(conn)
    await _seed(conn, sim, settings)
    keys = {}
    for name, scope in (("alice", "write"), ("bob", "write"), ("reader", "read")):
        _, keys[name] = await create_key(conn, name, scope)
    ctx = AppContext(settings)
    gateway = _gateway(await ctx.pool(), sim)
    ctx.chat = ChatService(ctx.pool, gateway)
    app = build_api()
    app.state.context = ctx
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=30
    ) as http:
        yield Api(http, conn, keys, ctx)
    await gateway.aclose()
    await ctx.close()
    await conn.close()
    sim.clear_faults()


def parse_sse(text: str) -> list[tuple[str, dict]]:
    """(event, data) pairs of an SSE body."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def _chat_usage(conn) -> list:
    return await conn.fetch("SELECT status, cost_micro FROM llm_usage WHERE purpose = 'chat'")


async def test_sessions_are_owned_scoped_and_validated(api: Api) -> None:
    sid = await api.session()
    unknown = await api.http.post(
        "/api/v1/chat/sessions", json={"instrument": "TSLA"}, headers=api.auth("alice")
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    read_only = await api.http.post(
        "/api/v1/chat/sessions", json={"instrument": "AAPL"}, headers=api.auth("reader")
    )
    assert read_only.status_code == 403
    assert (await api.ask(sid, "hi", who="reader")).status_code == 403
    # Bob cannot read, nor write to, Alice's session; nor can a made-up or malformed id.
    for path_id in (sid, str(uuid.uuid4()), "nope"):
        seen = await api.http.get(
            f"/api/v1/chat/sessions/{path_id}/messages", headers=api.auth("bob")
        )
        assert seen.status_code == 404 and seen.json()["error"]["code"] == "not_found"
        assert (await api.ask(path_id, "What happened?", who="bob")).status_code == 404
    for bad in ("", "   ", "x" * 4001):
        refused = await api.ask(sid, bad)
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "invalid_request" and error["details"][0]["field"] == "body.content"
    missing = await api.http.post(
        f"/api/v1/chat/sessions/{sid}/messages", json={}, headers=api.auth("alice")
    )
    assert missing.status_code == 422 and "error" in missing.json()
    # Idempotent session creation: the same key makes the same session once.
    again = [
        await api.http.post(
            "/api/v1/chat/sessions",
            json={"instrument": "AAPL"},
            headers={**api.auth("alice"), "Idempotency-Key": "s-1"},
        )
        for _ in range(2)
    ]
    assert again[0].json()["id"] == again[1].json()["id"]
    assert again[1].headers["idempotent-replayed"] == "true"
    other = await api.http.post(
        "/api/v1/chat/sessions", json={"instrument": "MSFT"},
        headers={**api.auth("alice"), "Idempotency-Key": "s-1"},
    )  # fmt: skip
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    listed = await api.http.get(f"/api/v1/chat/sessions/{sid}/messages", headers=api.auth("alice"))
    assert listed.status_code == 200 and listed.json()["session"]["instrument"] == "AAPL"
    # Each key lists only its own sessions.
    mine = await api.http.get("/api/v1/chat/sessions", headers=api.auth("alice"))
    assert sid in [s["id"] for s in mine.json()["sessions"]]
    theirs = await api.http.get("/api/v1/chat/sessions", headers=api.auth("bob"))
    assert theirs.status_code == 200 and theirs.json()["sessions"] == []


async def test_answer_is_grounded_cited_costed_and_stored(api: Api) -> None:
    sid = await api.session()
    answered = await api.ask(sid, "What did Apple report about earnings?")
    assert answered.status_code == 201, answered.text
    message = answered.json()
    assert message["method"] == "llm" and message["model"] == "sim-llm"
    assert message["citations"], message
    stored = {
        r["fingerprint"]: r["title"]
        for r in await api.conn.fetch(
            "SELECT a.fingerprint, a.title FROM articles a JOIN article_instruments ai "
            "USING (fingerprint) WHERE ai.instrument_id = 'AAPL'"
        )
    }
    report_ids = {str(r["id"]) for r in await api.conn.fetch("SELECT id FROM reports")}
    for cite in message["citations"]:
        assert cite["id"] in message["content"]
        if cite["kind"] == "article":
            assert stored[cite["ref"]] == cite["title"] and cite["url"]
        else:  # the report, or one of its facts (ref: the report holding it)
            assert cite["ref"] in report_ids
    usage = await _chat_usage(api.conn)
    assert [u["status"] for u in usage] == ["ok"]
    assert usage[0]["cost_micro"] == round(message["cost_usd"] * 1e6) > 0
    # A follow-up carries the earlier turn; the history lists both turns in order.
    await api.ask(sid, "And the risks?")
    listed = await api.http.get(f"/api/v1/chat/sessions/{sid}/messages", headers=api.auth("alice"))
    roles = [m["role"] for m in listed.json()["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert listed.json()["messages"][1]["id"] == message["id"]


async def test_streamed_answer_is_sse_tokens_then_done(api: Api) -> None:
    sid = await api.session()
    async with api.http.stream(
        "POST", f"/api/v1/chat/sessions/{sid}/messages", json={"content": "Any news on iPhone?"},
        headers={**api.auth("alice"), **SSE},
    ) as streamed:  # fmt: skip
        assert streamed.status_code == 200
        assert streamed.headers["content-type"].startswith("text/event-stream")
        body = "".join([chunk async for chunk in streamed.aiter_text()])
    events = parse_sse(body)
    kinds = [e for e, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("token") > 1
    done = events[-1][1]
    assert "".join(d["text"] for e, d in events if e == "token") == done["content"]
    assert (
        done["method"] == "llm"
        and done["citations"]
        and done["reply_to"] == events[0][1]["message_id"]
    )
    listed = await api.http.get(f"/api/v1/chat/sessions/{sid}/messages", headers=api.auth("alice"))
    assert listed.json()["messages"][-1]["id"] == done["id"]
    refused = await api.http.post(
        f"/api/v1/chat/sessions/{uuid.uuid4()}/messages", json={"content": "x"},
        headers={**api.auth("alice"), **SSE},
    )  # fmt: skip
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"


async def test_citations_to_unknown_sources_are_dropped(api: Api, sim: SimServer) -> None:
    sim.set_faults("llm", {"bad_citation_rate": 1.0})
    sid = await api.session()
    message = (await api.ask(sid, "What is new?")).json()
    assert message["detail"]["dropped_citations"]
    assert not re.search(r"\[a10\d\d\]", message["content"])
    ids = {c["id"] for c in message["citations"]}
    assert ids and all(re.fullmatch(r"[afr]\d{1,2}", i) for i in ids)


async def test_answers_cite_the_reports_facts_like_its_articles(api: Api) -> None:
    sid = await api.session()
    message = (await api.ask(sid, "How many analysed articles, and what sentiment?")).json()
    latest = await api.conn.fetchrow(
        "SELECT id, facts FROM reports WHERE instrument_id = 'AAPL' ORDER BY published_at DESC"
    )
    facts = {f["id"]: f for f in latest["facts"]}
    cited = [c for c in message["citations"] if c["kind"] == "fact"]
    assert cited, message
    for cite in cited:
        assert f"[{cite['id']}]" in message["content"] or cite["id"] in message["content"]
        assert cite["ref"] == str(latest["id"]) and cite["title"] == facts[cite["id"]]["kind"]


async def test_lexicon_answer_without_llm_or_budget(api: Api, sim: SimServer) -> None:
    sid = await api.session()
    await api.use_llm(None)
    plain = (await api.ask(sid, "What about the buyback?")).json()
    assert plain["method"] == "lexicon" and plain["cost_usd"] == 0 and plain["citations"]
    assert "no LLM endpoint" in plain["detail"]["reason"]
    # A per-call ceiling no chat call fits under: refused before sending, lexicon instead.
    tight = _gateway(await api.ctx.pool(), sim, per_call_usd=0.000001)
    await api.use_llm(tight)
    async with api.http.stream(
        "POST", f"/api/v1/chat/sessions/{sid}/messages", json={"content": "Any risks?"},
        headers={**api.auth("alice"), **SSE},
    ) as streamed:  # fmt: skip
        events = parse_sse("".join([c async for c in streamed.aiter_text()]))
    done = events[-1][1]
    assert events[-1][0] == "done" and done["method"] == "lexicon"
    assert "budget" in done["detail"]["reason"].lower() and done["citations"]
    assert await _chat_usage(api.conn) == []
    no_data = (await api.ask(await api.session(instrument="MSFT"), "Anything?")).json()
    assert no_data["method"] == "lexicon" and no_data["citations"] == []
    await tight.aclose()


async def test_retried_post_with_idempotency_key_answers_once(api: Api) -> None:
    sid = await api.session()
    key = {"Idempotency-Key": "turn-1"}
    first, second = await asyncio.gather(
        api.ask(sid, "What moved the stock?", **key), api.ask(sid, "What moved the stock?", **key)
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses in ([201, 201], [201, 409]), (first.text, second.text)
    again = await api.ask(sid, "What moved the stock?", **key)
    assert again.status_code == 201
    winner = first if first.status_code == 201 else second
    assert again.json()["id"] == winner.json()["id"]
    async with api.http.stream(
        "POST", f"/api/v1/chat/sessions/{sid}/messages", json={"content": "What moved the stock?"},
        headers={**api.auth("alice"), **SSE, **key},
    ) as streamed:  # fmt: skip
        events = parse_sse("".join([c async for c in streamed.aiter_text()]))
    assert events[0][1]["replayed"] is True and events[-1][1]["id"] == winner.json()["id"]
    assert len(await _chat_usage(api.conn)) == 1  # one LLM call, however many retries
    count = await api.conn.fetchval(
        "SELECT count(*) FROM chat_messages WHERE session_id = $1", uuid.UUID(sid)
    )
    assert count == 2
    changed = await api.ask(sid, "Something else", **key)
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "idempotency_conflict"


async def test_failure_mid_stream_is_an_error_event_and_the_turn_retryable(
    api: Api, sim: SimServer
) -> None:
    sid = await api.session()
    key = {"Idempotency-Key": "turn-broken"}
    sim.set_faults("llm", {"malformed_rate": 1.0})  # the SSE body breaks half-way
    async with api.http.stream(
        "POST", f"/api/v1/chat/sessions/{sid}/messages", json={"content": "Any risks?"},
        headers={**api.auth("alice"), **SSE, **key},
    ) as streamed:  # fmt: skip
        events = parse_sse("".join([c async for c in streamed.aiter_text()]))
    assert events[0][0] == "start" and events[-1][0] == "error"
    assert events[-1][1]["error"]["details"]["retryable"] is True
    assert "token" in [e for e, _ in events]  # it did fail mid-answer
    sim.clear_faults()
    retried = await api.ask(sid, "Any risks?", **key)
    assert retried.status_code == 201 and retried.json()["method"] == "llm"
    assert retried.json()["reply_to"] == events[0][1]["message_id"]
    # The broken stream is charged its bound; usage rows sum to the day's spend exactly.
    usage = await _chat_usage(api.conn)
    assert sorted(u["status"] for u in usage) == ["error", "ok"] and all(
        u["cost_micro"] for u in usage
    )
    spent = await api.conn.fetchval("SELECT spent_micro + reserved_micro FROM llm_budget")
    assert spent == sum(u["cost_micro"] for u in usage)
    _, reserved, key_spent, recorded = await _ledger(api, "alice")  # and the key's quota
    assert reserved == 0 and key_spent == recorded == spent


# --- per-key daily chat quotas (issue 14) ------------------------------------------------


async def _set_quota(api: Api, who: str, usd: float) -> None:
    assert await set_chat_quota(api.conn, key_prefix(api.keys[who]), usd) is not None


async def _ledger(api: Api, who: str) -> tuple[int, int, int, int]:
    """(limit, reserved, spent) micro-dollars of the key's chat today, and what `llm_usage`
    recorded for its turns (a chat call's trace id is its user message)."""
    row = await api.conn.fetchrow(
        """SELECT k.id, b.limit_micro, b.reserved_micro, b.spent_micro FROM api_keys k
           LEFT JOIN chat_budget b ON b.key_id = k.id WHERE k.prefix = $1""",
        key_prefix(api.keys[who]),
    )
    recorded = await api.conn.fetchval(
        """SELECT coalesce(sum(u.cost_micro), 0) FROM llm_usage u
           JOIN chat_messages m ON u.trace_id = m.id::text
           JOIN chat_sessions s ON s.id = m.session_id WHERE s.key_id = $1""",
        row["id"],
    )
    return row["limit_micro"], row["reserved_micro"] or 0, row["spent_micro"] or 0, recorded


async def _quota(api: Api, who: str) -> dict:
    shown = await api.http.get("/api/v1/chat/quota", headers=api.auth(who))
    assert shown.status_code == 200, shown.text
    return shown.json()


async def test_key_over_its_quota_gets_extractive_answers_while_another_key_chats(
    api: Api,
) -> None:
    await _set_quota(api, "alice", 0.002)  # a few calls' worth at the sim's prices
    sid, answers = await api.session(), []
    for _ in range(20):
        answers.append((await api.ask(sid, "What did Apple report?")).json())
        if answers[-1]["method"] == "lexicon":
            break
    assert [a["method"] for a in answers[:-1]] == ["llm"] * (len(answers) - 1) and answers[:-1]
    over = answers[-1]
    assert over["method"] == "lexicon" and over["citations"] and over["cost_usd"] == 0
    assert "chat quota" in over["detail"]["reason"]
    resets_at = datetime.fromisoformat(over["detail"]["quota_exceeded"]["resets_at"])
    assert resets_at > datetime.now(UTC) and resets_at.hour == resets_at.minute == 0
    calls = len(await _chat_usage(api.conn))
    again = (await api.ask(sid, "Anything else?")).json()  # still spent: nothing sent
    assert again["method"] == "lexicon" and len(await _chat_usage(api.conn)) == calls
    limit, reserved, spent, recorded = await _ledger(api, "alice")
    assert limit == 2000 and reserved == 0 and 0 < spent == recorded <= limit
    shown = await _quota(api, "alice")
    assert shown["limit_usd"] == 0.002 and shown["spent_usd"] == spent / 1e6
    assert shown["reserved_usd"] == 0 and shown["resets_at"] == resets_at.isoformat()
    # Bob's quota (the default) is his own: he still gets the model's answers.
    bob = (await api.ask(await api.session("bob"), "What did Apple report?", "bob")).json()
    assert bob["method"] == "llm" and bob["cost_usd"] > 0
    assert (await _quota(api, "bob"))["limit_usd"] == 0.5
    assert (await _quota(api, "reader"))["spent_usd"] == 0  # read scope may look
    # The day's budget counts both keys' calls, exactly.
    day = await api.conn.fetchrow("SELECT spent_micro, reserved_micro FROM llm_budget")
    assert day["reserved_micro"] == 0
    assert day["spent_micro"] == sum(u["cost_micro"] for u in await _chat_usage(api.conn))


async def test_racing_calls_of_one_key_never_overspend_its_quota(api: Api) -> None:
    await _set_quota(api, "alice", 0.003)
    sessions = [await api.session() for _ in range(12)]
    answers = await asyncio.gather(*(api.ask(s, "What did Apple report?") for s in sessions))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    methods = [a.json()["method"] for a in answers]
    assert "llm" in methods and "lexicon" in methods, methods
    refused = [a.json() for a in answers if a.json()["method"] == "lexicon"]
    assert all("quota_exceeded" in a["detail"] for a in refused)
    limit, reserved, spent, recorded = await _ledger(api, "alice")
    assert reserved == 0 and 0 < spent == recorded <= limit == 3000


async def test_a_failed_chat_call_releases_its_hold_on_the_quota(api: Api, sim: SimServer) -> None:
    await _set_quota(api, "alice", 0.01)
    sim.set_faults("llm", {"error_rate": 1.0})
    failed = (await api.ask(await api.session(), "Any risks?")).json()
    assert failed["method"] == "lexicon" and "unavailable" in failed["detail"]["reason"]
    assert await _ledger(api, "alice") == (10_000, 0, 0, 0)  # its hold released, no charge
    sim.clear_faults()
    await asyncio.sleep(1.1)  # the endpoint's cooldown after the failure
    ok = (await api.ask(await api.session(), "Any risks?")).json()
    _, reserved, spent, recorded = await _ledger(api, "alice")
    assert (
        ok["method"] == "llm" and reserved == 0 and spent == recorded == round(ok["cost_usd"] * 1e6)
    )


async def _seed_cluster(dsn: str, sim: SimServer) -> str:
    """AAPL's news and report in the cluster's own database; a write key for it."""
    conn = await connect(dsn)
    try:
        await _seed(conn, sim, load_settings(database_url=dsn))
        _, key = await create_key(conn, f"chat-serve-{uuid.uuid4().hex[:6]}", "write")
    finally:
        await conn.close()
    return key


def test_chat_through_serve_composes_the_chat_deployment(ray_cluster, sim: SimServer) -> None:
    from ray import serve

    from cluster.ray_head import free_port
    from serve_app.app import Api
    from serve_app.chat import Chat

    sim.clear_faults()
    key = asyncio.run(_seed_cluster(ray_cluster.dsn, sim))
    name = f"chat-{uuid.uuid4().hex[:8]}"
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    no_cpu = {"num_cpus": 0}  # 2 cores shared: I/O-bound replicas reserve none
    app = Api.options(ray_actor_options=no_cpu).bind(Chat.options(ray_actor_options=no_cpu).bind())
    serve.run(app, name=name, route_prefix=f"/{name}")
    try:
        base = f"http://127.0.0.1:{port}/{name}/api/v1"
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=auth, timeout=60) as http:
            sid = http.post("/chat/sessions", json={"instrument": "AAPL"}).json()["id"]
            plain = http.post(f"/chat/sessions/{sid}/messages", json={"content": "Earnings?"})
            assert plain.status_code == 201, plain.text
            assert plain.json()["method"] == "llm" and plain.json()["citations"]
            with http.stream(
                "POST", f"/chat/sessions/{sid}/messages", json={"content": "Any risks?"},
                headers=SSE,
            ) as streamed:  # fmt: skip
                assert streamed.headers["content-type"].startswith("text/event-stream")
                events = parse_sse("".join(streamed.iter_text()))
            kinds = [e for e, _ in events]
            assert kinds[0] == "start" and kinds[-1] == "done" and "token" in kinds
            assert events[-1][1]["method"] == "llm" and events[-1][1]["citations"]
            missing = http.post(
                f"/chat/sessions/{uuid.uuid4()}/messages", json={"content": "x"}, headers=SSE
            )
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
            listed = http.get(f"/chat/sessions/{sid}/messages").json()["messages"]
            assert [m["role"] for m in listed] == ["user", "assistant"] * 2
    finally:
        serve.delete(name)

"""The sim's OpenAI-compatible `llm` provider, driven by the real `openai` SDK over sockets."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator

import openai
import pytest
from openai import AsyncOpenAI

from sim.server import SimServer

FAST = {"ttft_ms": 1, "tokens_per_s": 200_000}  # the answers, without waiting for them
LABELS = {"positive", "negative", "neutral"}
RATINGS = {"strong_sell", "sell", "hold", "buy", "strong_buy"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(seed=7, faults={"llm": FAST}) as server:
        yield server


@pytest.fixture(autouse=True)
def fast(sim: SimServer) -> Iterator[None]:
    yield
    sim.set_faults("llm", FAST)


def client(sim: SimServer, key: str = "k") -> AsyncOpenAI:
    return AsyncOpenAI(base_url=sim.urls["llm"] + "/v1", api_key=key, max_retries=0, timeout=10)


def user(text: str) -> list[dict]:
    return [{"role": "system", "content": "You are an analyst."}, {"role": "user", "content": text}]


def tokens(text: str) -> int:
    return math.ceil(len(text.encode()) / 4)


def stories(sim: SimServer) -> list[dict]:
    return sim.truth_news(symbol="AAPL,005930.KS", **{"from": "2024-01-01", "to": "2024-03-31"})


async def test_completion_shape_usage_and_determinism(sim: SimServer) -> None:
    llm = client(sim)
    messages = user("What moved Apple this week?")
    first = await llm.chat.completions.create(model="sim-llm", messages=messages, temperature=0)
    again = await llm.chat.completions.create(model="sim-llm", messages=messages, temperature=0)
    assert first.object == "chat.completion" and first.model == "sim-llm"
    choice = first.choices[0]
    assert choice.index == 0 and choice.finish_reason == "stop"
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.message.content == again.choices[0].message.content
    usage = first.usage
    assert usage.prompt_tokens == sum(tokens(m["content"]) + 4 for m in messages)
    assert usage.completion_tokens == tokens(choice.message.content)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    models = [m.id async for m in llm.models.list()]
    assert models == ["sim-llm", "sim-llm-large"]


async def test_json_schema_and_json_object_answers_parse(sim: SimServer) -> None:
    schema = {
        "type": "object",
        "properties": {
            "verdict": {"$ref": "#/$defs/Verdict"},
            "score": {"type": "number", "minimum": -1},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["verdict", "score", "tags"],
        "$defs": {"Verdict": {"enum": ["up", "down"]}},
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "v", "schema": schema, "strict": True}}
    llm = client(sim)
    out = await llm.chat.completions.create(
        model="sim-llm", messages=user("Verdict?"), response_format=fmt
    )
    data = json.loads(out.choices[0].message.content)
    assert data["verdict"] == "up" and isinstance(data["score"], float)
    assert isinstance(data["tags"], list)
    out = await llm.chat.completions.create(
        model="sim-llm", messages=user("Reply in JSON."), response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(out.choices[0].message.content)["answer"], str)


async def test_llamacpp_mode_refuses_json_schema_with_its_500(sim: SimServer) -> None:
    schema = {"type": "object", "properties": {"up": {"type": "boolean"}}, "required": ["up"]}
    llama = AsyncOpenAI(
        base_url=sim.urls["llm"] + "/llamacpp/v1", api_key="k", max_retries=0, timeout=10
    )
    fmt = {"type": "json_schema", "json_schema": {"name": "v", "schema": schema}}
    with pytest.raises(openai.InternalServerError) as refused:
        await llama.chat.completions.create(
            model="sim-llm", messages=user("Up?"), response_format=fmt
        )
    assert refused.value.status_code == 500
    assert refused.value.body == {
        "code": 500,
        "message": 'response_format type must be one of "text" or "json_object", but got: '
        "json_schema",
        "type": "server_error",
    }
    out = await llama.chat.completions.create(
        model="sim-llm",
        messages=user("Up?"),
        response_format={"type": "json_object", "schema": schema},
    )  # no "json" in the messages: llama.cpp does not ask for it
    assert set(json.loads(out.choices[0].message.content)) == {"up"}
    plain = await llama.chat.completions.create(model="sim-llm", messages=user("Up?"))
    assert plain.choices[0].message.content


async def test_bad_citation_rate_also_spoils_article_ids(sim: SimServer) -> None:
    sim.set_faults("llm", {**FAST, "bad_citation_rate": 1.0})
    items = [{"id": "a1", "title": "Acme wins major contract", "text": ""}]
    prompt = "Answer in JSON.\nARTICLES:\n" + json.dumps(items)
    out = await client(sim).chat.completions.create(
        model="sim-llm", messages=user(prompt), response_format={"type": "json_object"}
    )
    assert [a["id"] for a in json.loads(out.choices[0].message.content)["articles"]] == ["a1001"]


async def test_article_contract_is_mostly_right(sim: SimServer) -> None:
    truth = stories(sim)
    items = [{"id": s["id"], "title": s["title"], "text": s["title"]} for s in truth]
    items.append({"id": "x1", "title": "Acme wins major contract", "text": "Strong demand."})
    prompt = "Rate each article. Answer in JSON.\nARTICLES:\n" + json.dumps(items)
    out = await client(sim).chat.completions.create(
        model="sim-llm-large", messages=user(prompt), response_format={"type": "json_object"}
    )
    analysed = json.loads(out.choices[0].message.content)["articles"]
    assert [a["id"] for a in analysed] == [i["id"] for i in items]
    for a in analysed:
        assert a["label"] in LABELS and -1 <= a["sentiment"] <= 1 and 0 <= a["relevance"] <= 1
        assert (a["sentiment"] >= 0.2) == (a["label"] == "positive") and a["gist"]
        assert (a["sentiment"] <= -0.2) == (a["label"] == "negative")
    right = sum(a["label"] == s["label"] for a, s in zip(analysed, truth, strict=False))
    assert 0.8 <= right / len(truth) < 1.0  # a good model, not an oracle


def report_prompt(articles: list[dict]) -> str:
    payload = {"instrument": "AAPL", "articles": articles}
    return "Write the report as JSON.\nREPORT:\n```json\n" + json.dumps(payload) + "\n```"


async def test_report_cites_only_given_ids_unless_told(sim: SimServer) -> None:
    articles = [
        {"id": "a", "title": "Apple beats estimates", "sentiment": 0.8},
        {"id": "b", "title": "Apple recalls phones", "sentiment": -0.6},
        {"id": "c", "title": "Apple names CFO", "sentiment": 0.0},
        {"id": "d", "title": "Apple raises outlook", "sentiment": 0.5},
    ]
    fmt = {"type": "json_object"}
    llm = client(sim)
    out = await llm.chat.completions.create(
        model="sim-llm", messages=user(report_prompt(articles)), response_format=fmt
    )
    report = json.loads(out.choices[0].message.content)
    assert set(report) >= {"summary", "positives", "concerns", "outlook", "rating", "citations"}
    assert report["rating"] in RATINGS and report["sentiment"] == pytest.approx(0.175)
    assert [p["citations"] for p in report["positives"]] == [["a"], ["d"]]
    assert [c["citations"] for c in report["concerns"]] == [["b"]]
    assert set(report["citations"]) <= {"a", "b", "c", "d"}
    sim.set_faults("llm", {**FAST, "bad_citation_rate": 1.0})
    out = await llm.chat.completions.create(
        model="sim-llm", messages=user(report_prompt(articles)), response_format=fmt
    )
    assert set(json.loads(out.choices[0].message.content)["citations"]) - {"a", "b", "c", "d"}


async def test_errors_map_to_sdk_exceptions(sim: SimServer) -> None:
    llm, messages = client(sim), user("hi")
    with pytest.raises(openai.AuthenticationError) as auth:
        await client(sim, "bad-key").chat.completions.create(model="sim-llm", messages=messages)
    assert auth.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as missing:
        await llm.chat.completions.create(model="gpt-9", messages=messages)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as long:
        await llm.chat.completions.create(model="sim-llm", messages=user("word " * 7000))
    assert long.value.code == "context_length_exceeded"
    await llm.chat.completions.create(model="sim-llm-large", messages=user("word " * 7000))
    with pytest.raises(openai.BadRequestError) as bad:
        await llm.chat.completions.create(model="sim-llm", messages=messages, temperature=3)
    assert bad.value.code == "invalid_request_error" and bad.value.param == "temperature"
    with pytest.raises(openai.BadRequestError):  # json_object needs the word JSON in the prompt
        await llm.chat.completions.create(
            model="sim-llm", messages=messages, response_format={"type": "json_object"}
        )
    for faults, status in (({"error_rate": 1.0}, 500), ({"outage": {"mode": "503"}}, 503)):
        sim.set_faults("llm", {**FAST, **faults})
        with pytest.raises(openai.InternalServerError) as failed:
            await llm.chat.completions.create(model="sim-llm", messages=messages)
        assert failed.value.status_code == status
        assert failed.value.body["type"] == "server_error"
    sim.set_faults("llm", {"outage": {"mode": "refuse"}})
    with pytest.raises(openai.APIConnectionError):  # a new client: no kept-alive connection
        await client(sim).chat.completions.create(model="sim-llm", messages=messages)


@pytest.mark.parametrize("limits", [{"rpm": 2}, {"tpm": 200}])
async def test_rpm_and_tpm_answer_429_with_retry_after(sim: SimServer, limits: dict) -> None:
    sim.set_faults("llm", {**FAST, **limits})
    llm, before = client(sim), sim.stats()["llm"]["http_429"]
    for _ in range(2):
        await llm.chat.completions.create(model="sim-llm", messages=user("hi"), max_tokens=60)
    with pytest.raises(openai.RateLimitError) as limited:
        await llm.chat.completions.create(model="sim-llm", messages=user("hi"), max_tokens=60)
    assert limited.value.code == "rate_limit_exceeded"
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 60
    assert sim.stats()["llm"]["http_429"] == before + 1


async def test_max_tokens_truncates_json(sim: SimServer) -> None:
    items = [{"id": s["id"], "title": s["title"], "text": ""} for s in stories(sim)[:10]]
    prompt = "JSON please.\nARTICLES:\n" + json.dumps(items)
    out = await client(sim).chat.completions.create(
        model="sim-llm", messages=user(prompt), max_completion_tokens=30
    )
    content = out.choices[0].message.content
    assert out.choices[0].finish_reason == "length" and out.usage.completion_tokens <= 30
    assert content.startswith('{"articles"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


async def test_malformed_body_fails_to_decode(sim: SimServer) -> None:
    sim.set_faults("llm", {**FAST, "malformed_rate": 1.0})
    with pytest.raises((openai.APIResponseValidationError, json.JSONDecodeError)):
        await client(sim).chat.completions.create(model="sim-llm", messages=user("hi"))
    assert sim.stats()["llm"]["malformed"] >= 1


async def test_streaming_matches_the_plain_answer(sim: SimServer) -> None:
    llm = client(sim)
    prompt = report_prompt([{"id": 1, "title": "Apple jumps", "sentiment": 0.7}])
    plain = await llm.chat.completions.create(model="sim-llm", messages=user(prompt))
    stream = await llm.chat.completions.create(
        model="sim-llm",
        messages=user(prompt),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.total_tokens == plain.usage.total_tokens


async def test_latency_is_ttft_plus_generation(sim: SimServer) -> None:
    sim.set_faults("llm", {"ttft_ms": 150, "tokens_per_s": 500})
    started = time.monotonic()
    out = await client(sim).chat.completions.create(model="sim-llm", messages=user("hi"))
    expected = 0.15 + out.usage.completion_tokens / 500
    assert expected <= time.monotonic() - started < expected + 1.0


def test_llm_fault_keys_are_validated(sim: SimServer) -> None:
    installed = sim.set_faults("llm", {"rpm": 5, "models": ["tiny"], "bad_citation_rate": 0.5})
    assert installed["models"] == {"tiny": 8192} and installed["rpm"] == 5
    with pytest.raises(ValueError):
        sim.set_faults("llm", {"rpm": 0})

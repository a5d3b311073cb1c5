"""Structured outputs: the `response_format` per mode, the schema, the step-down decision."""

from __future__ import annotations

import httpx
import openai
import pytest

from configs.sections import LlmEndpoint
from core.analysis.prompts import ArticleVerdicts, ReportAnswer
from core.errors import InvalidAnswer, LLMTransient
from core.llm.calls import Completion, parsed_answer
from core.llm.gateway import classify
from core.llm.structured import (
    MODES,
    FormatRefused,
    answer_schema,
    refuses_format,
    response_format,
    weaker,
    with_schema_hint,
)

LLAMACPP_500 = 'response_format type must be one of "text" or "json_object", but got: json_schema'


def _status_error(status: int, message: str) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://x/v1/chat/completions")
    response = httpx.Response(status, request=request, json={"error": {"message": message}})
    return openai.APIStatusError(message, response=response, body=None)


def test_each_mode_has_its_response_format() -> None:
    schema = answer_schema(ArticleVerdicts)
    assert response_format("json_schema", "ArticleVerdicts", schema) == {
        "type": "json_schema",
        "json_schema": {"name": "ArticleVerdicts", "schema": schema, "strict": False},
    }
    assert response_format("json_object_schema", "n", schema) == {
        "type": "json_object",
        "schema": schema,
    }
    assert response_format("json_object", "n", schema) == {"type": "json_object"}
    assert response_format("none", "n", schema) is None


def test_schema_constrains_labels_ratings_and_ids() -> None:
    verdict = answer_schema(ArticleVerdicts, {"a2", "a1"})["$defs"]["ArticleVerdict"]
    assert verdict["properties"]["id"]["enum"] == ["a1", "a2"]
    assert set(verdict["properties"]["label"]["enum"]) == {"positive", "negative", "neutral"}
    report = answer_schema(ReportAnswer, {"a1"})
    assert report["properties"]["citations"]["items"]["enum"] == ["a1"]
    assert report["$defs"]["Claim"]["properties"]["citations"]["items"]["enum"] == ["a1"]
    assert "buy" in report["properties"]["rating"]["enum"]
    assert (
        "enum" not in answer_schema(ArticleVerdicts)["$defs"]["ArticleVerdict"]["properties"]["id"]
    )


def test_the_schema_goes_into_the_prompt_only_where_the_mode_cannot_send_it() -> None:
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]
    assert with_schema_hint("json_schema", messages, {"type": "object"}) == messages
    assert with_schema_hint("json_object_schema", messages, {"type": "object"}) == messages
    for mode in ("json_object", "none"):
        hinted = with_schema_hint(mode, messages, {"type": "object"})
        # in the user's message: some chat formats drop system messages after the first
        assert len(hinted) == 2 and hinted[-1]["role"] == "user"
        assert hinted[-1]["content"].startswith("hi\n\n") and "JSON" in hinted[-1]["content"]
        assert '{"type":"object"}' in hinted[-1]["content"]
    assert messages[-1]["content"] == "hi"  # the caller's messages are left as they were


def test_modes_step_down_in_order() -> None:
    assert [weaker(m) for m in MODES] == ["json_object_schema", "json_object", "none", None]


@pytest.mark.parametrize(
    ("status", "message", "refused"),
    [
        (500, LLAMACPP_500, True),
        (400, "Invalid parameter: 'response_format' of type 'json_schema' is not supported", True),
        (422, "json_schema: unknown field", True),
        (500, "The server had an error while processing your request.", False),
        (400, "This model's maximum context length is 8192 tokens.", False),
        (503, "response_format service overloaded, please retry", False),
    ],
)
def test_refusal_is_told_from_outages(status: int, message: str, refused: bool) -> None:
    assert refuses_format(status, message) is refused
    err = classify(_status_error(status, message), "ep")
    assert isinstance(err, FormatRefused) is refused
    if not refused and status >= 500:
        assert isinstance(err, LLMTransient)


def test_endpoint_config_takes_the_mode_and_the_deprecated_flag() -> None:
    base = {"name": "e", "base_url": "http://x/v1", "model": "m"}
    assert LlmEndpoint(**base).structured == "json_schema"
    assert LlmEndpoint(**base, structured="json_object_schema").structured == "json_object_schema"
    assert LlmEndpoint(**base, json_schema=False).structured == "json_object"
    assert LlmEndpoint(**base, json_schema=True).structured == "json_schema"
    with pytest.raises(ValueError):
        LlmEndpoint(**base, structured="grammar")


def test_an_endpoint_steps_down_once_per_refused_mode_and_remembers() -> None:
    from configs.sections import RetryPolicy
    from core.llm.endpoint import Endpoint as _Endpoint

    config = LlmEndpoint(name="llama", base_url="http://127.0.0.1:9/v1", model="m")
    endpoint = _Endpoint(config, "k", RetryPolicy())
    refused = FormatRefused(f"500: {LLAMACPP_500}", "llama")
    assert endpoint.step_down(refused, "json_schema") and endpoint.mode == "json_object_schema"
    # a call sent in the old mode while another stepped down: retried, no second step
    assert endpoint.step_down(refused, "json_schema") and endpoint.mode == "json_object_schema"
    assert len(endpoint.downgrades) == 1
    for expected in ("json_object", "none"):
        assert endpoint.step_down(refused, endpoint.mode) and endpoint.mode == expected
    assert not endpoint.step_down(refused, "none")  # nothing weaker: the error stands
    assert len(endpoint.downgrades) == 3


def _completion(text: str) -> Completion:
    return Completion(text, None, "local", "m", 10, 5, 0.0)


def test_a_raw_control_character_inside_a_string_is_read_not_refused() -> None:
    """What the test model wrote (a raw newline in `summary`): read as that newline."""
    text = '{"articles": [{"id": "a1", "sentiment": 0.4, "label": "positive",\n"gist": "up\nup"}]}'
    done = parsed_answer(_completion(text), ArticleVerdicts, None)
    assert done.parsed.articles[0].gist == "up\nup"


def test_an_answer_outside_the_schema_is_still_refused() -> None:
    text = '{"articles": [{"id": "a1", "sentiment": 0.4, "label": "positive", "relevance": 34}]}'
    with pytest.raises(InvalidAnswer, match="answer failed validation"):
        parsed_answer(_completion(text), ArticleVerdicts, None)

"""Structured outputs: how each endpoint takes a schema, and when it refused one.

Modes, strongest first: `json_schema` (OpenAI, vLLM: `{"type": "json_schema", ...}`),
`json_object_schema` (llama.cpp's server: `{"type": "json_object", "schema": ...}`),
`json_object` (JSON mode, the schema described in the prompt) and `none` (no
`response_format`: prompt and validate). An endpoint that refuses a mode steps down to the
next weaker one; every answer is validated by pydantic whatever the mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from core.errors import LLMPermanent

MODES = ("json_schema", "json_object_schema", "json_object", "none")
_SCHEMA_WORDS = re.compile(r"response_format|json_schema|\bschema\b", re.IGNORECASE)
# llama.cpp answers a response_format it cannot take with a 500 whose message is a
# validation message: its C++ server "'response_format' type must be one of 'text' or
# 'json_object'", llama-cpp-python's server pydantic's "1 validation error: {'type':
# 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': "Input should be 'text'
# or 'json_object'", ...}".
_VALIDATION_WORDS = re.compile(
    r"must be|not supported|unsupported|invalid|unknown|expected|validation error|should be",
    re.IGNORECASE,
)


class FormatRefused(LLMPermanent):
    """The endpoint does not take this `response_format`: step down, not an outage."""


def weaker(mode: str) -> str | None:
    """The next weaker mode, or None after `none`."""
    at = MODES.index(mode)
    return MODES[at + 1] if at + 1 < len(MODES) else None


def refuses_format(status: int, message: str) -> bool:
    """Whether an HTTP error says the request's `response_format` (or schema) is refused."""
    if not _SCHEMA_WORDS.search(message):
        return False
    if status in (400, 422):
        return True
    return status == 500 and bool(_VALIDATION_WORDS.search(message))


def answer_schema(model: type[BaseModel], ids: Collection[str] | None = None) -> dict[str, Any]:
    """The model's JSON schema; with `ids`, every `id` and `citations` item is one of them.

    No `minItems`/`maxItems` for one entry per input: tried, and under llama.cpp's grammar
    the test model's answer to a two-article batch then failed validation where it passed
    without; the id check after parsing asks for the repair instead."""
    schema = model.model_json_schema()
    if ids:
        choices = sorted(ids)
        for part in [schema, *schema.get("$defs", {}).values()]:
            props = part.get("properties", {})
            if "id" in props:
                props["id"] = {**props["id"], "enum": choices}
            if "citations" in props and isinstance(props["citations"].get("items"), dict):
                props["citations"]["items"] = {**props["citations"]["items"], "enum": choices}
    return schema


def response_format(mode: str, name: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `response_format` body for `mode` (None: send none)."""
    if mode == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": dict(schema), "strict": False},
        }
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": dict(schema)}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def with_schema_hint(
    mode: str, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]
) -> list[Mapping[str, str]]:
    """The messages, with the schema in words where the mode cannot send it: appended to the
    last user message, since some servers' chat formats drop system messages that do not
    come first (llama.cpp's `gemma` format drops every one)."""
    if mode in ("json_schema", "json_object_schema"):
        return list(messages)
    hint = (
        "Reply with only one JSON object (no prose, no code fence) valid for this JSON "
        f"schema: {json.dumps(schema, ensure_ascii=False, separators=(',', ':'))}"
    )
    out = list(messages)
    if out and out[-1].get("role") == "user":
        out[-1] = {**out[-1], "content": f"{out[-1]['content']}\n\n{hint}"}
        return out
    return [*out, {"role": "user", "content": hint}]

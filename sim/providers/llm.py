"""An OpenAI-compatible LLM: `POST /v1/chat/completions` (plain or SSE stream), `GET /v1/models`.

Errors are OpenAI's `{"error": {"message", "type", "param", "code"}}` with its HTTP statuses.
Answers come from sim.providers.llm_answers; time = ttft_ms + completion tokens / tokens_per_s.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sim import rng
from sim.faults import FaultConfig, FaultState
from sim.providers.base import Endpoint, ProviderSpec, html_error, json_response, key_state
from sim.providers.llm_answers import answer, count_tokens, prompt_tokens
from sim.world import SimWorld

DEFAULT_MODELS = {"sim-llm": 8192, "sim-llm-large": 32768}
DEFAULT_TTFT_MS = 20.0
DEFAULT_TOKENS_PER_S = 2000.0
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
_CHUNK_CHARS = 24  # characters per streamed delta
LLAMACPP_PREFIX = "/llamacpp/"  # base URL `<llm>/llamacpp/v1`: behaves as llama.cpp's server


def error(
    status: int, message: str, kind: str, code: str | None = None, param: str | None = None
) -> Response:
    """OpenAI's error body with its HTTP status."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return json_response(body, status)


def llamacpp_error(message: str) -> Response:
    """llama.cpp server's answer to a request it cannot take: HTTP 500 `server_error`."""
    return json_response({"error": {"code": 500, "message": message, "type": "server_error"}}, 500)


def invalid(message: str, param: str | None = None) -> Response:
    """400 invalid_request_error (a request the API would never accept)."""
    return error(400, message, "invalid_request_error", "invalid_request_error", param)


class MinuteWindow:
    """A sliding 60 s log of amounts (requests or tokens) against a per-minute limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._log: deque[tuple[float, int]] = deque()
        self.used = 0

    def wait(self, amount: int, now: float) -> float | None:
        """None when `amount` fits now, else seconds until it would (60 when it never fits)."""
        while self._log and self._log[0][0] <= now - 60.0:
            self.used -= self._log.popleft()[1]
        if self.used + amount <= self.limit:
            return None
        if amount > self.limit:
            return 60.0
        freed, need = 0, self.used + amount - self.limit
        for at, used in self._log:
            freed += used
            if freed >= need:
                return at + 60.0 - now
        return 60.0

    def add(self, amount: int, now: float) -> None:
        """Count `amount` at `now` (after every window admitted the request)."""
        self._log.append((now, amount))
        self.used += amount


class ChatEndpoint(Endpoint):
    """Answers the chat and model routes from the world's news, under the llm fault config."""

    def __init__(self, world: SimWorld, state: FaultState) -> None:
        super().__init__(world, state)
        self._config: FaultConfig | None = None
        self._windows: dict[str, MinuteWindow] = {}

    @property
    def models(self) -> dict[str, int]:
        """Known models and their context windows."""
        configured = self.state.config.models
        return dict(configured) if configured else dict(DEFAULT_MODELS)

    def _auth(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        key = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        state = key_state(key)
        if state == "missing":
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            return error(401, message, "invalid_request_error")
        if state == "invalid":
            message = f"Incorrect API key provided: {key[:3]}***{key[-4:]}."
            return error(401, message, "invalid_request_error", "invalid_api_key")
        return None

    async def list_models(self, request: Request) -> Response:
        """GET /v1/models and /v1/models/{model}."""
        if (denied := self._auth(request)) is not None:
            return denied
        entries = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "stockray-sim"}
            for m in self.models
        ]
        wanted = request.path_params.get("model")
        if wanted is None:
            return json_response({"object": "list", "data": entries})
        found = [e for e in entries if e["id"] == wanted]
        if not found:
            return _model_not_found(wanted)
        return json_response(found[0])

    async def chat(self, request: Request) -> Response:
        """POST /v1/chat/completions (OpenAI) or /llamacpp/v1/chat/completions."""
        if (denied := self._auth(request)) is not None:
            return denied
        if request.url.path.startswith(LLAMACPP_PREFIX):
            return await self._llamacpp(request)
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return invalid(
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)"
            )
        if not isinstance(body, dict):
            return invalid("The request body must be a JSON object.")
        return await self._answer(body, _validate(body))

    async def _llamacpp(self, request: Request) -> Response:
        """llama.cpp's server: `json_object` (+ `schema`) only; anything else is its 500."""
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return llamacpp_error("[json.exception.parse_error.101] parse error: syntax error")
        if not isinstance(body, dict):
            return llamacpp_error("[json.exception.type_error.302] type must be object")
        fmt = body.get("response_format")
        kind = fmt.get("type", "") if isinstance(fmt, Mapping) else ""
        if kind not in ("", "text", "json_object"):
            return llamacpp_error(
                'response_format type must be one of "text" or "json_object", but got: ' + str(kind)
            )
        # llama.cpp has no "the messages must mention json" rule: the format is not checked
        return await self._answer(body, _validate({**body, "response_format": None}))

    async def _answer(self, body: dict, problem: Response | None) -> Response:
        """The completion (plain or streamed) for a request that passed validation."""
        if problem is not None:
            return problem
        model, messages = body["model"], body["messages"]
        if model not in self.models:
            return _model_not_found(model)
        prompt = prompt_tokens(messages)
        window = self.models[model]
        if prompt > window:
            message = (
                f"This model's maximum context length is {window} tokens. However, your "
                f"messages resulted in {prompt} tokens. Please reduce the length of the messages."
            )
            code = "context_length_exceeded"
            return error(400, message, "invalid_request_error", code, "messages")
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        cfg = self.state.config
        full = answer(
            self.world.news,
            self.world.seed,
            messages,
            body.get("response_format"),
            cfg.bad_citation_rate,
            cfg.ungrounded_rate,
        )
        limited = self._limit(model, prompt + (cap or count_tokens(full)))
        if limited is not None:
            return limited
        text, finish = full, "stop"
        if cap is not None and count_tokens(full) > cap:
            # cut on a UTF-8 boundary: the realistic "JSON cut off mid-way" case
            text, finish = full.encode()[: cap * 4].decode(errors="ignore"), "length"
        completion = count_tokens(text)
        ident = f"chatcmpl-{rng.key(self.world.seed, 'llm-id', json.dumps(body)):016x}"
        meta = {"id": ident, "created": int(self.world.clock()), "model": model}
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        ttft = (cfg.ttft_ms if cfg.ttft_ms is not None else DEFAULT_TTFT_MS) / 1000.0
        rate = cfg.tokens_per_s or DEFAULT_TOKENS_PER_S
        if body.get("stream"):
            options = body.get("stream_options") or {}
            stream = _sse(meta, text, finish, usage if options.get("include_usage") else None)
            return StreamingResponse(
                _paced(stream, ttft, rate), media_type="text/event-stream; charset=utf-8"
            )
        await asyncio.sleep(ttft + completion / rate)
        message = {"role": "assistant", "content": text, "refusal": None}
        return json_response(
            {
                **meta,
                "object": "chat.completion",
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
                "usage": usage,
                "system_fingerprint": "fp_stockray_sim",
            }
        )

    def _limit(self, model: str, tokens: int) -> Response | None:
        """429 rate_limit_exceeded with Retry-After when the rpm or tpm budget is spent."""
        cfg = self.state.config
        if cfg is not self._config:  # new faults: fresh windows, like the other limiters
            self._config = cfg
            limits = {"requests": cfg.rpm, "tokens": cfg.tpm}
            self._windows = {k: MinuteWindow(v) for k, v in limits.items() if v is not None}
        now = time.monotonic()
        amounts = {"requests": 1, "tokens": tokens}
        for kind, window in self._windows.items():
            wait = window.wait(amounts[kind], now)
            if wait is None:
                continue
            short = "RPM" if kind == "requests" else "TPM"
            message = (
                f"Rate limit reached for {model} in organization org-sim on {kind} per min "
                f"({short}): Limit {window.limit}, Used {window.used}, Requested "
                f"{amounts[kind]}. Please try again in {wait:.3f}s."
            )
            response = error(429, message, kind, "rate_limit_exceeded")
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            response.headers[f"x-ratelimit-limit-{kind}"] = str(window.limit)
            response.headers[f"x-ratelimit-remaining-{kind}"] = str(
                max(0, window.limit - window.used)
            )
            return response
        for kind, window in self._windows.items():
            window.add(amounts[kind], now)
        return None


def _validate(body: dict) -> Response | None:
    """400 for what the real API rejects before looking at the model."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return invalid("you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return invalid("'messages' must be a non-empty array.", "messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            return invalid(f"Invalid value for 'messages[{i}].role'.", f"messages[{i}].role")
        if m.get("content") is not None and not isinstance(m["content"], (str, list)):
            return invalid(f"Invalid type for 'messages[{i}].content'.", f"messages[{i}].content")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or value < 1):
            return invalid(f"Invalid '{name}': integer below minimum value of 1.", name)
    temperature = body.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2
    ):
        return invalid("Invalid 'temperature': must be between 0 and 2.", "temperature")
    return _validate_format(body.get("response_format"), messages)


def _validate_format(fmt: object, messages: list) -> Response | None:
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind not in ("text", "json_object", "json_schema"):
        return invalid(
            "Invalid value for 'response_format.type': expected one of 'text', "
            "'json_object' or 'json_schema'.",
            "response_format.type",
        )
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, Mapping) or not spec.get("name"):
            return invalid(
                "Missing required parameter: 'response_format.json_schema.name'.",
                "response_format.json_schema",
            )
        if "schema" in spec and not isinstance(spec["schema"], Mapping):
            return invalid("Invalid schema for response_format.", "response_format")
    if kind == "json_object" and not any(
        "json" in json.dumps(m.get("content"), ensure_ascii=False).lower() for m in messages
    ):
        return invalid(
            "'messages' must contain the word 'json' in some form, to use 'response_format' "
            "of type 'json_object'.",
            "messages",
        )
    return None


def _model_not_found(model: str) -> Response:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return error(404, message, "invalid_request_error", "model_not_found", "model")


def _sse(meta: dict, text: str, finish: str, usage: dict | None) -> list[tuple[int, str]]:
    """(tokens in it, `data:` event) pairs: role, content deltas, finish, usage, [DONE]."""

    def event(delta: dict, reason: str | None = None, **extra: object) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        chunk = {**meta, "object": "chat.completion.chunk", "choices": [choice], **extra}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    out = [(0, event({"role": "assistant", "content": ""}))]
    for i in range(0, len(text), _CHUNK_CHARS):
        piece = text[i : i + _CHUNK_CHARS]
        out.append((count_tokens(piece), event({"content": piece})))
    out.append((0, event({}, finish)))
    if usage is not None:
        tail = {**meta, "object": "chat.completion.chunk", "choices": [], "usage": usage}
        out.append((0, f"data: {json.dumps(tail)}\n\n"))
    out.append((0, "data: [DONE]\n\n"))
    return out


async def _paced(events: list[tuple[int, str]], ttft: float, rate: float) -> AsyncIterator[bytes]:
    await asyncio.sleep(ttft)
    for tokens, data in events:
        if tokens:
            await asyncio.sleep(tokens / rate)
        yield data.encode()


def _limit_response(variant: str) -> Response:
    return error(
        429,
        "Rate limit reached for requests. Please try again later.",
        "requests",
        "rate_limit_exceeded",
    )


def _error_response(status: int) -> Response:
    if status == 500:
        message = "The server had an error while processing your request. Sorry about that!"
        return error(500, message, "server_error")
    if status == 503:
        return error(503, "The server is overloaded or not ready yet.", "server_error")
    return html_error(status)


def build(world: SimWorld, state: FaultState) -> Starlette:
    """The /v1 routes."""
    endpoint = ChatEndpoint(world, state)
    return Starlette(
        routes=[
            Route("/v1/chat/completions", endpoint.chat, methods=["POST"]),
            Route("/v1/models", endpoint.list_models),
            Route("/v1/models/{model:path}", endpoint.list_models),
            Route("/llamacpp/v1/chat/completions", endpoint.chat, methods=["POST"]),
            Route("/llamacpp/v1/models", endpoint.list_models),
        ]
    )


def _echo_key(body: dict, key: str) -> bool:
    """OpenAI's 401 with the whole key, as older API versions printed it."""
    error_body = body.get("error")
    if not isinstance(error_body, dict) or error_body.get("code") != "invalid_api_key":
        return False
    error_body["message"] = (
        f"Incorrect API key provided: {key}. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )
    return True


SPEC = ProviderSpec("llm", build, _limit_response, _error_response, _echo_key)

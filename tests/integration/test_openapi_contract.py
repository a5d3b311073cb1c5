"""The API against its own OpenAPI document (schemathesis): no 5xx, every answer conforms.

The document names a schema for every answer (each 2xx of each content type, the one error
shape for each 4xx/5xx a route can give), and the checks hold every answer to it: its status
is one the operation declares, its content type one declared for that status, its declared
headers well-formed and its JSON valid against the schema (formats included).

The app runs under uvicorn on a real socket, on the session cluster's database and Ray
(so `/providers` and `/jobs/backfill` reach real actors and the Jobs API), with an admin key
so every route is reachable; generated inputs include invalid ones, which must be 4xx.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks

from configs.settings import load_settings
from core.storage.api_keys import create_key
from core.storage.db import connect
from core.wait import poll
from serve_app.app import build_api
from serve_app.chat import ChatService
from serve_app.context import AppContext
from serve_app.ops_routes import PROVIDERS_TIMEOUT_S

pytestmark = pytest.mark.timeout(600)
REQUEST_TIMEOUT_S = PROVIDERS_TIMEOUT_S + 15
"""Longer than the API's own bound on a call (the provider router may be created on the
first `/providers`), so a slow dependency is answered with its 503, not a client timeout."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_api(ray_cluster) -> Iterator[tuple[str, str]]:
    """(base URL, admin key) of the API under uvicorn in a thread."""
    cfg = load_settings(
        database_url=ray_cluster.dsn,
        config_dir=ray_cluster.config_dir,
        dashboard_port=urlparse(ray_cluster.dashboard_url).port,
        api_rate_limit=0,
    )

    async def make_key() -> str:
        conn = await connect(ray_cluster.dsn)
        try:
            return (await create_key(conn, "contract", "admin"))[1]
        finally:
            await conn.close()

    key = asyncio.run(make_key())
    app = build_api(cfg)
    ctx = app.state.context = AppContext(cfg)
    ctx.chat = ChatService(ctx.pool, None)  # extractive answers: no LLM spend in this test
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    poll(lambda: server.started, timeout_s=30, interval_s=0.05)
    assert httpx.get(f"{url}/healthz").status_code == 200
    yield url, key
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def api_schema(live_api):
    url, _ = live_api
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")
RESPONSE_CONFORMANCE = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
"""Each answer against the document; all on (schemathesis' default), named here so that
leaving one out is a visible change of this test."""


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _described(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    # A JSON answer's schema says which fields it has (each variant of a union does).
    schema = _resolve(doc, schema)
    if "anyOf" in schema:
        return all(_described(doc, s) for s in schema["anyOf"])
    return bool(schema.get("properties"))


def test_every_answer_has_a_schema() -> None:
    """No operation leaves an answer undescribed: each 2xx content names a schema (JSON with
    its fields; CSV, Parquet, SSE and Prometheus text are strings), 204 has no body, and
    every 4xx/5xx it declares is the one error shape."""
    doc = build_api(load_settings(api_rate_limit=0)).openapi()
    problems = []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for status, response in operation["responses"].items():
                content = response.get("content", {})
                if status == "204":
                    problems += [f"{where} 204 has a body"] if content else []
                elif status.startswith("2") and not content:
                    problems.append(f"{where} {status} has no content")
                for media_type, body in content.items():
                    found = body.get("schema") or {}
                    if status.startswith("2") and media_type == "application/json":
                        ok = _described(doc, found)
                    elif status.startswith("2"):
                        ok = found.get("type") == "string"
                    else:
                        ok = media_type == "application/json" and found == {
                            "$ref": "#/components/schemas/ErrorBody"
                        }
                    if not ok:
                        problems.append(f"{where} {status} {media_type}: {found}")
    assert problems == []


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_conforms_to_the_schema(case, live_api) -> None:
    url, key = live_api
    # Every check but `positive_data_acceptance`: rules OpenAPI cannot state (a backfill's
    # start after its end, an instrument not on the watchlist) are rightly 422 for inputs
    # the schema allows. Invalid inputs must still be rejected (`negative_data_rejection`).
    enabled = case.operation.schema.config.checks_config_for(operation=case.operation)
    assert all(enabled.get_by_name(name=c.__name__).enabled for c in RESPONSE_CONFORMANCE)
    case.call_and_validate(
        base_url=url,
        headers={"Authorization": f"Bearer {key}"},
        excluded_checks=[checks.positive_data_acceptance],
        timeout=REQUEST_TIMEOUT_S,
    )

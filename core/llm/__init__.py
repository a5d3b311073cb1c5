"""Calling OpenAI-compatible LLM endpoints under hard budgets (Ray-free).

`gateway` fails over between endpoints and owns retries; `calls` holds a call's shapes, the
error map and answer validation; `structured` says how each endpoint takes a schema and when
it refused one; `budget` reserves and settles the daily spend in Postgres; `cost` prices
calls and bounds them before they are sent; `limits` bounds tokens per minute; `usage`
records every call in `llm_usage`.
"""

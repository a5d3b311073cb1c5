"""Calling OpenAI-compatible LLM endpoints under hard budgets (Ray-free).

`gateway` walks the endpoints in priority order and fails over; `endpoint` holds one
endpoint's client and limits and sends its requests, whole or streamed; `calls` holds a
call's shapes, the error map and answer validation; `structured` says how each endpoint
takes a schema and when it refused one; `budget` reserves and settles the daily spend;
`cost` prices calls and bounds them before they are sent; `limits` bounds tokens per
minute; `usage` records every call. Their rows live in `core.storage.llm_budget` and
`core.storage.llm_usage`.
"""

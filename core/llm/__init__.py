"""Calling OpenAI-compatible LLM endpoints under hard budgets (Ray-free).

`gateway` fails over between endpoints and owns retries; `budget` reserves and settles the
daily spend in Postgres; `cost` prices calls and bounds them before they are sent.
"""

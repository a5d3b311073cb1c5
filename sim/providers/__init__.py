"""Simulated providers, one module each; `PROVIDERS` maps a provider name to its spec.

Adding a provider (as the OpenAI-compatible `llm` was) = one module exposing `SPEC` plus one
entry here; the server gives it its own listener, faults and counters.
"""

from __future__ import annotations

from sim.providers import alphavantage, dart, llm, newsapi, rss, yahoo
from sim.providers.base import ProviderSpec

PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (yahoo.SPEC, alphavantage.SPEC, newsapi.SPEC, dart.SPEC, llm.SPEC, rss.SPEC)
}

__all__ = ["PROVIDERS", "ProviderSpec"]

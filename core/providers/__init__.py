"""Data provider clients: one module per provider (query -> fetch -> parse), Ray-free.

`CLIENTS` maps each provider's name (as in `configs/providers.yaml`) to its client class;
every class satisfies `ProviderClient` and lists what it serves in `capabilities`.
"""

from __future__ import annotations

from core.providers.alphavantage import AlphaVantageClient
from core.providers.base import HttpProviderClient, PriceSeries, ProviderClient
from core.providers.dart import DartClient
from core.providers.newsapi import NewsApiClient
from core.providers.rss import RssClient
from core.providers.yahoo import YahooClient

CLIENTS: dict[str, type[HttpProviderClient]] = {
    "yahoo": YahooClient,
    "alphavantage": AlphaVantageClient,
    "newsapi": NewsApiClient,
    "dart": DartClient,
    "rss": RssClient,
}

__all__ = [
    "CLIENTS",
    "AlphaVantageClient",
    "DartClient",
    "NewsApiClient",
    "PriceSeries",
    "ProviderClient",
    "RssClient",
    "YahooClient",
]

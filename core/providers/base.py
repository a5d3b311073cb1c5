"""What every provider client offers (`ProviderClient`) and the plumbing they share.

A client is cheap to build (its pooled `httpx.AsyncClient` is created on first use) and
safe to share between concurrent tasks. Calls outside its `capabilities` raise
`NotImplementedError`; a missing key raises `AuthError` on the first call that needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx

from core.errors import AuthError, NotFound
from core.fingerprint import article_fingerprint
from core.models import (
    Article,
    Bar,
    Capability,
    CorporateAction,
    Disclosure,
    FinancialFact,
    Instrument,
)
from core.providers.http import ErrorFor, fetch_json
from core.redact import register_secret

USER_AGENT = "Mozilla/5.0 (compatible; stockray/0.1)"
# Per client: enough for a few concurrent pages without hammering one provider.
CONNECTION_LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5)


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """Bars of one instrument and interval as traded, in the instrument's major currency,
    with the corporate actions the provider reported for the same window."""

    instrument_id: str
    interval: str
    provider: str
    bars: tuple[Bar, ...] = ()
    actions: tuple[CorporateAction, ...] = ()
    currency: str | None = None  # the instrument's, after minor units were converted
    timezone: str | None = None


def news_article(
    provider: str,
    instrument: Instrument,
    url: str,
    title: str,
    published_at: datetime,
    *,
    language: str,
    summary: Any = None,
    source: Any = None,
) -> Article:
    """A standard `Article` about `instrument`, fingerprinted by URL and title; its texts
    stripped, and a summary or source that is no non-blank string left out (None)."""
    return Article(
        fingerprint=article_fingerprint(url, title),
        url=url,
        title=title.strip(),
        summary=_text(summary),
        published_at=published_at,
        provider=provider,
        language=language,
        source=_text(source),
        instrument_ids=(instrument.id,),
    )


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


@runtime_checkable
class ProviderClient(Protocol):
    """A data provider's client: one module per provider, Ray-free. Every one is built the
    way `HttpProviderClient.__init__` says (base URL; key, timeout, shared pool, plan)."""

    name: str
    capabilities: frozenset[Capability]

    async def fetch_bars(
        self, instrument: Instrument, start: datetime, end: datetime, interval: str = "1d"
    ) -> PriceSeries: ...

    async def fetch_news(
        self, instrument: Instrument, start: datetime, end: datetime, limit: int = 100
    ) -> list[Article]: ...

    async def fetch_disclosures(
        self, instrument: Instrument, start: datetime, end: datetime
    ) -> list[Disclosure]: ...

    async def fetch_fundamentals(
        self, instrument: Instrument, start: datetime, end: datetime
    ) -> list[FinancialFact]: ...

    async def aclose(self) -> None: ...


class HttpProviderClient:
    """Shared plumbing: lazy pooled HTTP client, key check, argument checks, unsupported calls."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    needs_key: ClassVar[bool] = True
    INTERVALS: ClassVar[tuple[str, ...]] = ()
    # How far back from now the provider serves, per interval (missing: no known limit).
    MAX_HISTORY: ClassVar[Mapping[str, timedelta]] = {}
    # HTTP requests one fetch of a capability makes, where it is more than one (the cycle
    # planner spends that much of the provider's rate budget per planned fetch).
    CALLS: ClassVar[Mapping[Capability, int]] = {}

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        http: httpx.AsyncClient | None = None,
        plan: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        register_secret(api_key)  # so no error this process makes can carry it
        self._api_key = api_key or None
        # The key's plan tier as providers.yaml declares it (None: the client's default).
        self.plan = plan
        self._timeout = httpx.Timeout(timeout_s)
        self._http = http
        self._owns_http = http is None

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}({self.base_url!r})"

    @classmethod
    def max_history(cls, interval: str = "1d") -> timedelta | None:
        """How far back from now this provider serves `interval` (None: no known limit)."""
        return cls.MAX_HISTORY.get(interval)

    @classmethod
    def calls(cls, capability: Capability) -> int:
        """HTTP requests one fetch of `capability` makes (at most)."""
        return cls.CALLS.get(capability, 1)

    @classmethod
    def batches(cls, capability: Capability, instruments: list[Instrument]) -> list[list]:
        """`instruments` grouped one request per group: one each, unless the provider takes
        several symbols in one request for this capability (then it overrides this)."""
        return [[i] for i in instruments]

    async def fetch_bars(
        self, instrument: Instrument, start: datetime, end: datetime, interval: str = "1d"
    ) -> PriceSeries:
        """Bars and corporate actions with `start <= ts < end`."""
        raise self._unsupported(Capability.PRICES)

    async def fetch_news(
        self, instrument: Instrument, start: datetime, end: datetime, limit: int = 100
    ) -> list[Article]:
        """At most `limit` articles published in `[start, end)`, newest first."""
        raise self._unsupported(Capability.NEWS)

    async def fetch_disclosures(
        self, instrument: Instrument, start: datetime, end: datetime
    ) -> list[Disclosure]:
        """Filings whose `filed_at` is in `[start, end)`."""
        raise self._unsupported(Capability.DISCLOSURES)

    async def fetch_fundamentals(
        self, instrument: Instrument, start: datetime, end: datetime
    ) -> list[FinancialFact]:
        """Statement figures of the fiscal periods ending in `[start, end)`."""
        raise self._unsupported(Capability.FUNDAMENTALS)

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    async def __aenter__(self) -> HttpProviderClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- for subclasses ---------------------------------------------------------------

    async def _get_json(
        self,
        path: str,
        error_for: ErrorFor,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        instrument: Instrument | None = None,
    ) -> Any:
        try:
            return await fetch_json(
                self._client(),
                self.name,
                f"{self.base_url}{path}",
                error_for=error_for,
                params=params,
                headers=headers,
                timeout=self._timeout,
            )
        except NotFound as err:
            if instrument is None:
                raise
            # Providers rarely echo the symbol back; the user needs to know which one it was.
            symbol = instrument.symbol_for(self.name)
            subject = instrument.id if symbol == instrument.id else f"{instrument.id} ({symbol})"
            raise NotFound(self.name, f"unknown symbol {subject}: {err.message}") from None

    def _client(self) -> httpx.AsyncClient:
        # Created lazily, without awaiting, so concurrent first calls share one pool.
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self._timeout,
                limits=CONNECTION_LIMITS,
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,  # fetch_json follows same-host redirects only
            )
            self._owns_http = True
        return self._http

    def _key(self) -> str:
        if self._api_key is None:
            env = f"STOCKRAY_PROVIDER_KEYS__{self.name.upper()}"
            raise AuthError(self.name, f"no API key configured (set {env})")
        return self._api_key

    def _check_window(self, start: datetime, end: datetime) -> None:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware datetimes")
        if start >= end:
            raise ValueError(f"empty window: start {start.isoformat()} >= end {end.isoformat()}")

    def _check_interval(self, interval: str) -> None:
        if interval not in self.INTERVALS:
            raise ValueError(
                f"{self.name} does not serve interval {interval!r}; it serves {self.INTERVALS}"
            )

    def _unsupported(self, capability: Capability) -> NotImplementedError:
        return NotImplementedError(
            f"{self.name} does not serve {capability.value}; it serves "
            f"{sorted(c.value for c in self.capabilities)}"
        )

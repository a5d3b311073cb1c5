"""OpenDART: Korean regulatory filings of one company (`/api/list.json`, paginated) and its
financial statements' major accounts (`/api/fnlttSinglAcnt.json`, one call per report period:
consolidated (CFS) and separate (OFS) lines together; see `core.fundamentals`).

The instrument's `dart` symbol is the 8-digit corp code (`00126380`). DART answers HTTP 200
with a `status` code; `dart_error` maps it. `013` (no data) is an empty result, not an error;
`020` (the key's daily requests are spent) is `QuotaExhausted` until midnight in Seoul.
A filing's `filed_at` is its receipt date at 00:00 Asia/Seoul, in UTC.
Needs a key (`crtfc_key`), checked on first call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from core.errors import (
    AuthError,
    BadPayload,
    NotFound,
    PlanLimit,
    ProviderError,
    QuotaExhausted,
    Unavailable,
)
from core.fundamentals import (
    SJ_DIV,
    dart_account,
    dart_period,
    dart_reports_between,
    parse_amount,
    period_end_of,
)
from core.models import Capability, Disclosure, FinancialFact, Instrument
from core.providers.base import HttpProviderClient
from core.providers.http import next_midnight, status_error
from core.providers.payload import as_dict, as_int, as_list, as_str, member

PROVIDER = "dart"
SEOUL = ZoneInfo("Asia/Seoul")
PAGE_COUNT = 100  # DART's maximum page size
MAX_PAGES = 100  # 10,000 filings per call; a company files a few hundred a year
VIEWER_URL = "https://dart.fss.or.kr/dsaf001/main.do?rcpNo={}"
_CORP_CODE = re.compile(r"^\d{8}$")
_OK, _NO_DATA = "000", "013"
FIRST_STATEMENT_YEAR = date(2015, 1, 1)  # DART serves statements from business year 2015
# OpenDART status codes other than 000/013, by the typed error they mean.
_STATUS_ERRORS: dict[str, type[ProviderError]] = {
    "010": AuthError,  # unregistered key
    "011": AuthError,  # key suspended
    "012": AuthError,  # IP not allowed
    "901": AuthError,  # key expired with the account's data-retention period
    "014": NotFound,  # file does not exist
    "020": QuotaExhausted,  # daily request limit (20,000) exceeded: until midnight in Seoul
    "021": BadPayload,  # too many companies in one query: retrying the same one cannot help
    "100": BadPayload,  # a field has an invalid value
    "101": BadPayload,  # inappropriate access
    "800": Unavailable,  # maintenance
    "900": Unavailable,  # undefined error
}


class DartClient(HttpProviderClient):
    """Disclosures from OpenDART's filing list."""

    name = PROVIDER
    capabilities = frozenset({Capability.DISCLOSURES, Capability.FUNDAMENTALS})
    # One call per report period: a collection re-reads ~460 days, which hold at most six
    # quarter ends (core/collection.py FIRST_LOOKBACK); a backfill chunk of a year, four.
    CALLS: ClassVar[dict[Capability, int]] = {Capability.FUNDAMENTALS: 6}

    async def fetch_disclosures(
        self, instrument: Instrument, start: datetime, end: datetime
    ) -> list[Disclosure]:
        """Filings with `start <= filed_at < end`, oldest first, over every page."""
        self._check_window(start, end)
        key = self._key()
        corp_code = self._corp_code(instrument)
        found: dict[str, Disclosure] = {}
        page = 1
        while True:
            params = list_params(key, corp_code, start, end, page)
            payload = await self._get_json(
                "/api/list.json", dart_error, params, instrument=instrument
            )
            result = parse_list(payload, instrument, start, end)
            for disclosure in result.disclosures:  # pages can overlap while filings arrive
                found.setdefault(disclosure.provider_id, disclosure)
            if page >= min(result.total_page, MAX_PAGES):
                break
            page += 1
        return sorted(found.values(), key=lambda d: (d.filed_at, d.provider_id))

    async def fetch_fundamentals(
        self, instrument: Instrument, start: datetime, end: datetime
    ) -> list[FinancialFact]:
        """Major accounts of each report period ending in `[start, end)` and already over
        (one call each; status 013, nothing filed for it yet, is none), oldest first."""
        self._check_window(start, end)
        key = self._key()
        if PROVIDER not in instrument.symbols:  # not a Korean filer: another provider's
            raise PlanLimit(PROVIDER, f"DART files Korean companies only; {instrument.id} has "
                            "no corp code")  # fmt: skip
        corp_code = self._corp_code(instrument)
        today = datetime.now(SEOUL).date()
        last = min(end.astimezone(SEOUL).date(), today)
        first = max(start.astimezone(SEOUL).date(), FIRST_STATEMENT_YEAR)
        facts: list[FinancialFact] = []
        for year, code, _ends in dart_reports_between(first, last):
            params = {"crtfc_key": key, "corp_code": corp_code, "bsns_year": year,
                      "reprt_code": code}  # fmt: skip
            payload = await self._get_json(
                "/api/fnlttSinglAcnt.json", dart_error, params, instrument=instrument
            )
            facts += parse_accounts(payload, instrument, year, code)
        return facts

    def _corp_code(self, instrument: Instrument) -> str:
        corp_code = instrument.symbol_for(PROVIDER)
        if not _CORP_CODE.match(corp_code):
            raise NotFound(PROVIDER, f"no DART corp code for {instrument.id} (got {corp_code!r})")
        return corp_code


def list_params(
    api_key: str, corp_code: str, start: datetime, end: datetime, page: int
) -> dict[str, str]:
    """Query parameters of one list page; DART takes whole Seoul dates, both inclusive."""
    return {
        "crtfc_key": api_key,
        "corp_code": corp_code,
        "bgn_de": start.astimezone(SEOUL).strftime("%Y%m%d"),
        "end_de": end.astimezone(SEOUL).strftime("%Y%m%d"),
        "page_no": str(page),
        "page_count": str(PAGE_COUNT),
    }


def dart_error(response: httpx.Response, payload: Any) -> ProviderError | None:
    """DART's one error mapping: the body's `status` code, else the HTTP status."""
    if not isinstance(payload, dict) or "status" not in payload:
        return status_error(PROVIDER, response)
    status = str(payload["status"])
    if status in (_OK, _NO_DATA):
        return status_error(PROVIDER, response)
    message = f"status {status}: {payload.get('message') or ''}".strip(": ")
    kind = _STATUS_ERRORS.get(status)
    if kind is None:
        return BadPayload(PROVIDER, f"unknown {message}", field="status")
    if kind is BadPayload:
        return BadPayload(PROVIDER, f"request rejected, {message}", field="request")
    if kind is QuotaExhausted:
        return QuotaExhausted(PROVIDER, message, next_midnight(SEOUL))
    return kind(PROVIDER, message)


@dataclass(frozen=True, slots=True)
class ListPage:
    """One parsed page: the filings in the window and how many pages the query has."""

    disclosures: list[Disclosure]
    total_page: int


def parse_list(payload: Any, instrument: Instrument, start: datetime, end: datetime) -> ListPage:
    """Standard disclosures from one `list.json` page; status 013 is an empty page."""
    status = str(member(PROVIDER, payload, "status", ""))
    if status == _NO_DATA:
        return ListPage([], 0)
    if status != _OK:
        raise BadPayload(PROVIDER, f"unexpected status {status!r:.20}", "status")
    total_page = as_int(PROVIDER, member(PROVIDER, payload, "total_page", ""), "total_page") or 0
    items = as_list(PROVIDER, member(PROVIDER, payload, "list", "", []), "list")
    disclosures = []
    for i, raw in enumerate(items):
        disclosure = _disclosure(as_dict(PROVIDER, raw, f"list[{i}]"), i, instrument)
        if start <= disclosure.filed_at < end:
            disclosures.append(disclosure)
    return ListPage(disclosures, total_page)


def filed_at(receipt_date: date) -> datetime:
    """UTC instant of a receipt date's start in Seoul."""
    return datetime.combine(receipt_date, time(0, 0), SEOUL).astimezone(UTC)


def _disclosure(item: dict[str, Any], i: int, instrument: Instrument) -> Disclosure:
    path = f"list[{i}]"
    receipt_no = as_str(PROVIDER, member(PROVIDER, item, "rcept_no", path), f"{path}.rcept_no")
    title = as_str(PROVIDER, member(PROVIDER, item, "report_nm", path), f"{path}.report_nm")
    day_text = as_str(PROVIDER, member(PROVIDER, item, "rcept_dt", path), f"{path}.rcept_dt")
    try:
        day = datetime.strptime(day_text, "%Y%m%d").date()
    except ValueError:
        raise BadPayload(
            PROVIDER, f"unreadable date {day_text!r:.20}", f"{path}.rcept_dt"
        ) from None
    filer = item.get("flr_nm")
    return Disclosure(
        provider=PROVIDER,
        provider_id=receipt_no.strip(),
        instrument_id=instrument.id,
        # DART pads report names with spaces to align its own tables.
        title=" ".join(title.split()),
        filed_at=filed_at(day),
        filer=filer.strip() or None if isinstance(filer, str) else None,
        url=VIEWER_URL.format(receipt_no.strip()),
    )


def parse_accounts(
    payload: Any, instrument: Instrument, bsns_year: str, reprt_code: str
) -> list[FinancialFact]:
    """Facts of one `fnlttSinglAcnt.json` / `fnlttSinglAcntAll.json` answer: the lines of
    our canonical accounts (the first line of each wins), amounts like "1,234,567"; a "-" or
    empty amount is no fact. Status 013 (nothing filed for the period) is none."""
    status = str(member(PROVIDER, payload, "status", ""))
    if status == _NO_DATA:
        return []
    if status != _OK:
        raise BadPayload(PROVIDER, f"unexpected status {status!r:.20}", "status")
    period, default_end = dart_period(bsns_year, reprt_code)
    items = as_list(PROVIDER, member(PROVIDER, payload, "list", "", []), "list")
    found: dict[tuple[str, str, bool], FinancialFact] = {}
    for i, raw in enumerate(items):
        path = f"list[{i}]"
        item = as_dict(PROVIDER, raw, path)
        name = as_str(PROVIDER, member(PROVIDER, item, "account_nm", path), f"{path}.account_nm")
        account = dart_account(name, item.get("account_id"))
        statement = SJ_DIV.get(str(item.get("sj_div", "")))
        if account is None or statement is None:
            continue
        try:
            value = parse_amount(member(PROVIDER, item, "thstrm_amount", path))
        except ValueError as err:
            raise BadPayload(PROVIDER, str(err), f"{path}.thstrm_amount") from None
        if value is None:
            continue
        # fnlttSinglAcntAll answers one fs_div (asked for) and names none: consolidated.
        consolidated = str(item.get("fs_div", "CFS")) != "OFS"
        fact = FinancialFact(
            instrument_id=instrument.id,
            period=period,
            period_end=period_end_of(item.get("thstrm_dt")) or default_end,
            statement=statement,
            account=account,
            consolidated=consolidated,
            value=value,
            currency=str(item.get("currency") or instrument.currency),
            provider=PROVIDER,
            report_id=str(item.get("rcept_no") or "").strip() or None,
        )
        found.setdefault((statement, account, consolidated), fact)
    return list(found.values())

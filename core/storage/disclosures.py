"""Reading an instrument's disclosures page by page. The writers are in
`core.storage.writers`; a report's filings are read by `core.storage.facts`."""

from __future__ import annotations

from core.models import Disclosure
from core.storage.db import Db
from core.storage.paging import After, Page, page

_PAGE = """
    SELECT provider, provider_id, instrument_id, title, filed_at, filer, url FROM disclosures
    WHERE instrument_id = $1 AND ($2::timestamptz IS NULL OR (filed_at, provider_id) < ($2, $3))
    ORDER BY filed_at DESC, provider_id DESC LIMIT $4"""


async def filings_page(
    db: Db, instrument_id: str, after: After | None, limit: int
) -> Page[Disclosure]:
    """The instrument's filings, newest first (by time, then receipt number), the first
    `limit` after `after`."""
    rows = await db.fetch(
        _PAGE, instrument_id, after.at if after else None, after.key if after else "", limit + 1
    )
    return page([Disclosure(**dict(r)) for r in rows], limit)

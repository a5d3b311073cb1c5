"""Sample rows shared by the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.models import Article, Bar

T0 = datetime(2024, 1, 2, 21, tzinfo=UTC)


def daily_bars(
    instrument_id: str = "AAPL", n: int = 50, start: float = 100.0, t0: datetime = T0
) -> list[Bar]:
    """`n` daily bars from `t0`, as traded."""
    return [
        Bar(instrument_id, "1d", t0 + timedelta(days=i), start + i, start + i + 2,
            start + i - 1, start + i + 1, 1000 + i, "yahoo")
        for i in range(n)
    ]  # fmt: skip


def article(
    fp: str, *instrument_ids: str, title: str = "Apple ships", published_at: datetime = T0
) -> Article:
    """A news article linked to `instrument_ids`."""
    return Article(
        fp, f"https://news.example/{fp}", title, None, published_at, "newsapi", "en",
        "Example", instrument_ids,
    )  # fmt: skip

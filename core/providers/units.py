"""Minor currency units: the one table of quotes in cents or pence, converted at parse.

Yahoo quotes London listings in pence (`GBp`), Johannesburg in cents (`ZAc`) and Tel Aviv
in agorot (`ILA`). stockray stores prices in the instrument's (major) currency, so a parser
divides by the table's factor; any other difference from the instrument's currency is a
`BadPayload`, never a silent store.
"""

from __future__ import annotations

from core.errors import BadPayload

# Provider's currency code -> (major currency, minor units per major unit).
MINOR_UNITS: dict[str, tuple[str, int]] = {
    "GBp": ("GBP", 100),
    "GBX": ("GBP", 100),
    "ZAc": ("ZAR", 100),
    "ZAC": ("ZAR", 100),
    "ILA": ("ILS", 100),
    "ILa": ("ILS", 100),
}

# Where an answer names no currency (Alpha Vantage's daily series), the exchange's own
# convention says: London quotes in pence, Johannesburg in cents, Tel Aviv in agorot.
QUOTED_BY_EXCHANGE: dict[str, str] = {
    "LSE": "GBp",
    "XLON": "GBp",
    "JSE": "ZAc",
    "XJSE": "ZAc",
    "TASE": "ILA",
    "XTAE": "ILA",
}


def conventional_quote(exchange: str, currency: str) -> str:
    """The currency an exchange's prices are quoted in when the answer does not say."""
    return QUOTED_BY_EXCHANGE.get(exchange.upper(), currency)


def minor_unit_divisor(provider: str, quoted: str | None, expected: str, path: str) -> int:
    """What to divide the provider's prices by to get `expected` (1 when already in it)."""
    if quoted is None or quoted == expected:
        return 1
    major, per_major = MINOR_UNITS.get(quoted, (quoted, 1))
    if major.upper() != expected.upper():
        raise BadPayload(
            provider, f"prices in {quoted}, but the instrument trades in {expected}", path
        )
    return per_major

"""Financial statements in one vocabulary: canonical accounts, fiscal periods, amounts.

DART names accounts in Korean (`account_nm`, and in the full statements an XBRL
`account_id`); Alpha Vantage by its own camelCase fields. Both map onto `ACCOUNTS`; other
accounts are left out. A period is labelled `<year>FY` (a whole fiscal year) or
`<year>Q<n>` (a quarter; DART's half-year report gives its second quarter's figures, as its
guide says: `thstrm_amount` of an income account is the three months, not the year to date).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

# canonical account -> its statement
ACCOUNTS: dict[str, str] = {
    "revenue": "income",
    "operating_income": "income",
    "net_income": "income",
    "total_assets": "balance",
    "total_liabilities": "balance",
    "total_equity": "balance",
}
STATEMENTS = ("income", "balance", "cashflow")
# DART's `sj_div`: BS balance sheet, IS income statement, CIS comprehensive income, CF cash
# flows, SCE changes in equity (no account of ours).
SJ_DIV = {"BS": "balance", "IS": "income", "CIS": "income", "CF": "cashflow"}
# `account_nm` as DART's single-company statements write it (quarterly reports say 분기…,
# half-year reports 반기…; some companies append (손실) to a profit line).
_DART_NAMES: dict[str, str] = {
    "매출액": "revenue",
    "수익(매출액)": "revenue",
    "영업수익": "revenue",
    "매출": "revenue",
    "영업이익": "operating_income",
    "영업이익(손실)": "operating_income",
    "당기순이익": "net_income",
    "당기순이익(손실)": "net_income",
    "분기순이익": "net_income",
    "분기순이익(손실)": "net_income",
    "반기순이익": "net_income",
    "반기순이익(손실)": "net_income",
    "자산총계": "total_assets",
    "부채총계": "total_liabilities",
    "자본총계": "total_equity",
}
# XBRL `account_id` of the full statements (fnlttSinglAcntAll).
_DART_IDS: dict[str, str] = {
    "ifrs-full_Revenue": "revenue",
    "dart_OperatingIncomeLoss": "operating_income",
    "ifrs-full_ProfitLoss": "net_income",
    "ifrs-full_Assets": "total_assets",
    "ifrs-full_Liabilities": "total_liabilities",
    "ifrs-full_Equity": "total_equity",
}
# Alpha Vantage INCOME_STATEMENT / BALANCE_SHEET fields.
AV_FIELDS: dict[str, str] = {
    "totalRevenue": "revenue",
    "operatingIncome": "operating_income",
    "netIncome": "net_income",
    "totalAssets": "total_assets",
    "totalLiabilities": "total_liabilities",
    "totalShareholderEquity": "total_equity",
}
# DART `reprt_code` -> (quarter, month and day the period ends in a December fiscal year);
# quarter 4 is the annual report (a whole year: "FY").
REPORT_CODES: dict[str, tuple[int, int, int]] = {
    "11013": (1, 3, 31),
    "11012": (2, 6, 30),
    "11014": (3, 9, 30),
    "11011": (4, 12, 31),
}
_PERIOD = re.compile(r"^(\d{4})(FY|Q[1-4])$")
_DATE = re.compile(r"(\d{4})[.\-](\d{2})[.\-](\d{2})")


def dart_account(account_nm: str, account_id: str | None = None) -> str | None:
    """The canonical account of a DART line (its XBRL id first, then its name)."""
    if account_id and account_id in _DART_IDS:
        return _DART_IDS[account_id]
    return _DART_NAMES.get("".join(account_nm.split()))


def parse_amount(text: object) -> Decimal | None:
    """A reported amount: "1,234,567", "-1,234", "(1,234)" (negative), a number; None for
    DART's "-" and "" and AV's "None" (not reported). Raises ValueError on anything else."""
    if isinstance(text, int | float | Decimal) and not isinstance(text, bool):
        return Decimal(str(text))
    if not isinstance(text, str):
        raise ValueError(f"not an amount: {text!r:.30}")
    cleaned = text.strip().replace(",", "")
    if cleaned in ("", "-", "None", "N/A"):
        return None
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    try:
        value = Decimal(cleaned[1:-1] if negative else cleaned)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r:.30}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {text!r:.30}")
    return -value if negative else value


def dart_period(bsns_year: str, reprt_code: str) -> tuple[str, date]:
    """Label and (December fiscal year) end of a DART report period."""
    quarter, month, day = REPORT_CODES[reprt_code]
    year = int(bsns_year)
    return (f"{year}FY" if quarter == 4 else f"{year}Q{quarter}"), date(year, month, day)


def period_end_of(text: str | None) -> date | None:
    """The last date in DART's `thstrm_dt` ("2024.12.31 현재", "2024.01.01 ~ 2024.12.31")."""
    found = _DATE.findall(text or "")
    if not found:
        return None
    year, month, day = found[-1]
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def av_period(fiscal_date_ending: date, annual: bool) -> str:
    """AV's period label: the fiscal year's, or the calendar quarter its end falls in."""
    if annual:
        return f"{fiscal_date_ending.year}FY"
    return f"{fiscal_date_ending.year}Q{(fiscal_date_ending.month - 1) // 3 + 1}"


def dart_reports_between(start: date, end: date) -> list[tuple[str, str, date]]:
    """(bsns_year, reprt_code, period end) of the DART report periods ending in
    `[start, end)`, oldest first (December fiscal years)."""
    out = []
    for year in range(start.year, end.year + 1):
        for code, (_q, month, day) in sorted(REPORT_CODES.items(), key=lambda kv: kv[1]):
            ends = date(year, month, day)
            if start <= ends < end:
                out.append((str(year), code, ends))
    return out


def check_period(text: str) -> str:
    """`text` if it is a period label ("2024FY", "2024Q3"); ValueError naming it if not."""
    if not _PERIOD.match(text):
        raise ValueError(f"period {text!r} is not <year>FY or <year>Q1..Q4")
    return text

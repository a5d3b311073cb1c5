"""Yahoo Finance chart API: `GET /v8/finance/chart/{symbol}`.

OHLC and volume are split-adjusted (as of the request) but not dividend-adjusted; `adjclose`
(daily and longer intervals only) is adjusted for both, anchored at the latest session.
Prices carry Yahoo's float32 noise (185.63999938964844). Only the exchange's sessions have
bars. Intraday requests obey Yahoo's lookback limits (422). Scenarios: `live_row` (a trailing
row at `regularMarketTime` holding the latest session), `empty_timestamps` (an empty window
as `"timestamp": []` with empty columns).
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sim.calendar import FIRST_DAY, day_number, gmt_offset, last_day_number, local_date, utc_epoch
from sim.faults import FaultState
from sim.providers import yahoo_series
from sim.providers.base import Endpoint, ProviderSpec, html_error, json_response
from sim.providers.yahoo_series import f32
from sim.universe import SimInstrument
from sim.world import SimWorld

INTERVALS = ["1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "5d", "1wk", "1mo", "3mo"]
_MINUTES = {"1m": 1, "2m": 2, "5m": 5, "15m": 15, "30m": 30, "60m": 60, "90m": 90, "1h": 60}
# Yahoo's lookback per intraday interval, in days (1m also: at most 8 days per request).
_LOOKBACK = {1: 30, 2: 60, 5: 60, 15: 60, 30: 60, 90: 60, 60: 730}
VALID_RANGES = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]
_RANGE_DAYS = {
    "1d": 1,
    "5d": 5,
    "1mo": 31,
    "3mo": 92,
    "6mo": 183,
    "1y": 365,
    "2y": 730,
    "5y": 1826,
    "10y": 3652,
}
_EXCHANGES = {
    "NASDAQ": ("NMS", "NasdaqGS"),
    "NYSE": ("NYQ", "NYSE"),
    "KRX": ("KSC", "KSE"),
    "KOSDAQ": ("KOE", "KOSDAQ"),
    "LSE": ("LSE", "LSE"),
    "XETR": ("GER", "XETRA"),
    "TSE": ("JPX", "Tokyo"),
    "HKEX": ("HKG", "HKSE"),
}


def _error(status: int, code: str, description: str) -> Response:
    return json_response(
        {"chart": {"result": None, "error": {"code": code, "description": description}}}, status
    )


def not_found() -> Response:
    """Yahoo's answer for an unknown or delisted symbol."""
    return _error(404, "Not Found", "No data found, symbol may be delisted")


def _bad_request(description: str) -> Response:
    return _error(400, "Bad Request", f"Invalid input - {description}")


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    return int(float(value))


class ChartEndpoint(Endpoint):
    """Answers chart requests from the world's generators."""

    def __init__(self, world: SimWorld, state: FaultState) -> None:
        super().__init__(world, state)
        self._quotes: dict[tuple[str, int, int], dict] = {}

    async def handle(self, request: Request) -> Response:
        """GET /v8/finance/chart/{symbol}."""
        inst = self.world.universe.by_symbol("yahoo", request.path_params["symbol"])
        if inst is None:
            return not_found()
        interval = request.query_params.get("interval", "1d")
        if interval not in INTERVALS:
            return _bad_request(
                f"interval={interval} is not supported. Valid intervals: [{', '.join(INTERVALS)}]"
            )
        now = self.world.clock()
        try:
            window = self._window(request, inst, now)
        except ValueError as exc:
            return _bad_request(str(exc))
        start, end, range_name = window
        if start > end:
            return _bad_request(
                f"start date cannot be after end date. startDate = {start}, endDate = {end}"
            )
        minutes = _MINUTES.get(interval)
        if minutes is not None:
            problem = _intraday_problem(interval, minutes, start, end, now)
            if problem:
                return _error(422, "Unprocessable Entity", problem)
        events = {
            t.strip().lower()
            for t in request.query_params.get("events", "").replace("|", ",").split(",")
        }
        result = self._result(inst, interval, minutes, start, min(end, int(now)), now, events)
        result["meta"]["range"] = range_name
        return json_response({"chart": {"result": [result], "error": None}})

    def _window(self, request: Request, inst: SimInstrument, now: float) -> tuple[int, int, str]:
        try:
            period1, period2 = _int_param(request, "period1"), _int_param(request, "period2")
        except ValueError:
            raise ValueError("period1 and period2 must be unix timestamps") from None
        if period1 is not None or period2 is not None:
            return period1 or 0, period2 if period2 is not None else int(now), ""
        range_name = request.query_params.get("range", "1mo")
        if range_name not in VALID_RANGES:
            raise ValueError(
                f"range={range_name} is not supported. Valid ranges: [{', '.join(VALID_RANGES)}]"
            )
        if range_name == "max":
            return 0, int(now), range_name
        if range_name in ("1d", "5d"):  # counted in sessions: "1d" on a Sunday is Friday
            sessions = inst.sessions
            latest = sessions.latest(now)
            first = sessions.back(latest, _RANGE_DAYS[range_name] - 1)
            return sessions.open(first), int(now), range_name
        if range_name == "ytd":
            year = datetime.fromtimestamp(now, UTC).year
            return utc_epoch(year, 1, 1), int(now), range_name
        return int(now) - _RANGE_DAYS[range_name] * 86400, int(now), range_name

    def _result(
        self,
        inst: SimInstrument,
        interval: str,
        minutes: int | None,
        start: int,
        end: int,
        now: float,
        events: set[str],
    ) -> dict:
        tz, sessions, scenarios = inst.timezone, inst.sessions, self.state.scenarios
        latest = sessions.latest(now)
        first_n = day_number(max(local_date(max(start, 0), tz), FIRST_DAY))
        last_n = min(last_day_number(local_date(end, tz)), latest)
        result: dict = {"meta": self._meta(inst, interval, now, latest, first_n)}
        prices, days, window = self.world.prices, (first_n, last_n), (start, end)
        if minutes is None:
            market_time = result["meta"]["regularMarketTime"]
            live_ts = market_time if "live_row" in scenarios and end >= market_time else None
            series = yahoo_series.daily_series(
                prices, inst, interval, days, window, latest, live_ts
            )
        else:
            scale = prices.split_factor(inst, latest)
            series = yahoo_series.intraday_series(prices, inst, minutes, days, window, scale)
            result["meta"]["tradingPeriods"] = [
                [_period(*sessions.hours(n), tz)]
                for n in range(first_n, last_n + 1)
                if sessions.is_session(n)
            ]
        if not series["timestamp"]:
            if "empty_timestamps" in scenarios:
                result["timestamp"] = series.pop("timestamp")
                adjclose = series.pop("adjclose", None)
                result["indicators"] = {"quote": [series]}
                if minutes is None:
                    result["indicators"]["adjclose"] = [{"adjclose": adjclose or []}]
                return result
            result["indicators"] = {"quote": [{}]}
            if minutes is None:
                result["indicators"]["adjclose"] = [{}]
            return result
        result["timestamp"] = series.pop("timestamp")
        if events & {"div", "divs", "dividends"} or any(e.startswith("split") for e in events):
            found = yahoo_series.events(prices, inst, events, days, window, latest)
            if found:
                result["events"] = found
        adjclose = series.pop("adjclose", None)
        result["indicators"] = {"quote": [series]}
        if adjclose is not None:
            result["indicators"]["adjclose"] = [{"adjclose": adjclose}]
        return result

    def _meta(
        self, inst: SimInstrument, interval: str, now: float, latest: int, first_n: int
    ) -> dict:
        tz, sessions = inst.timezone, inst.sessions
        offset, abbr = gmt_offset(now, tz)
        exchange, full_name = _EXCHANGES.get(inst.exchange, (inst.exchange, inst.exchange))
        before = sessions.prev_session(first_n - 1)
        prev = self.world.prices.daily(inst, before, before) if before >= 0 else []
        scale = self.world.prices.split_factor(inst, latest)
        open_ts, close_ts = sessions.hours(latest)
        us = inst.currency == "USD"
        return {
            "currency": inst.quote_currency,
            "symbol": inst.symbol("yahoo"),
            "exchangeName": exchange,
            "fullExchangeName": full_name,
            "instrumentType": "EQUITY",
            "firstTradeDate": sessions.open(sessions.first_session()),
            "regularMarketTime": min(int(now), close_ts),
            "hasPrePostMarketData": us,
            "gmtoffset": offset,
            "timezone": abbr,
            "exchangeTimezoneName": tz,
            **self._quote(inst, latest),
            "longName": inst.name,
            "shortName": inst.name,
            "chartPreviousClose": f32(prev[0].adjusted()[3] * scale) if prev else None,
            "priceHint": 2,
            "currentTradingPeriod": {
                "pre": _period(open_ts - (19800 if us else 0), open_ts, tz),
                "regular": _period(open_ts, close_ts, tz),
                "post": _period(close_ts, close_ts + (14400 if us else 0), tz),
            },
            "dataGranularity": interval,
            "range": "",
            "validRanges": VALID_RANGES,
        }

    def _quote(self, inst: SimInstrument, latest: int) -> dict:
        """Latest price and 52-week range (cached per latest session)."""
        key = (inst.id, latest, self.world.version)
        quote = self._quotes.get(key)
        if quote is None:
            prices, sessions = self.world.prices, inst.sessions
            scale = prices.split_factor(inst, latest)
            year = [
                yahoo_series.adjusted(b, scale)
                for b in prices.daily(inst, latest - 260, latest)
                if sessions.is_session(b.number)
            ]
            if not year:
                return {"regularMarketPrice": None}
            quote = {
                "regularMarketPrice": f32(year[-1][3]),
                "fiftyTwoWeekHigh": f32(max(a[1] for a in year)),
                "fiftyTwoWeekLow": f32(min(a[2] for a in year)),
                "regularMarketDayHigh": f32(year[-1][1]),
                "regularMarketDayLow": f32(year[-1][2]),
                "regularMarketVolume": year[-1][4],
            }
            if len(self._quotes) > 10_000:
                self._quotes.clear()
            self._quotes[key] = quote
        return quote


def _period(start: int, end: int, tz: str) -> dict:
    offset, abbr = gmt_offset(start, tz)
    return {"timezone": abbr, "start": start, "end": end, "gmtoffset": offset}


def _intraday_problem(interval: str, minutes: int, start: int, end: int, now: float) -> str:
    """Yahoo's 422 description when an intraday request reaches too far back, else ""."""
    lookback = _LOOKBACK[minutes]
    if minutes == 1 and end - start > 8 * 86400:
        return (
            f"{interval} data not available for startTime={start} and endTime={end}. "
            "Only 8 days worth of 1m granularity data are allowed to be fetched per request."
        )
    if start < now - lookback * 86400:
        return (
            f"{interval} data not available for startTime={start} and endTime={end}. "
            f"The requested range must be within the last {lookback} days."
        )
    return ""


def _limit_response(variant: str) -> Response:
    return Response("Too Many Requests\r\n", status_code=429, media_type="text/plain")


def _error_response(status: int) -> Response:
    if status == 500:
        return _error(500, "Internal Server Error", "Internal Server Error")
    return html_error(status)


def build(world: SimWorld, state: FaultState) -> Starlette:
    """The chart API's routes."""
    return Starlette(
        routes=[Route("/v8/finance/chart/{symbol}", ChartEndpoint(world, state).handle)]
    )


SPEC = ProviderSpec("yahoo", build, _limit_response, _error_response)

"""Alpha Vantage: `GET /query?function=...` (TIME_SERIES_DAILY[_ADJUSTED], NEWS_SENTIMENT,
INCOME_STATEMENT / BALANCE_SHEET: `sim.providers.alphavantage_statements`).

Every answer is HTTP 200, errors included: a bad key or call is `{"Error Message": ...}`, the
rate limit `{"Information": ...}` (or the older `{"Note": ...}`). Daily prices are as traded
(not split-adjusted), newest first, numbers as strings, sessions of the exchange only.
Scenarios (sim.scenarios): `premium_full`, `premium_adjusted`, `daily_quota`, `burst`,
`empty`, `echo_key`; the demo key answers only for IBM, always.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sim import rng
from sim.faults import FaultState
from sim.news import Story
from sim.providers.alphavantage_statements import FUNCTIONS, statements
from sim.providers.base import Endpoint, ProviderSpec, html_error, json_response, key_state
from sim.statements import StatementModel
from sim.universe import SimInstrument
from sim.world import SimWorld

DOCS = "https://www.alphavantage.co/documentation/"
KEY_ERROR = (
    "the parameter apikey is invalid or missing. Please claim your free API key on "
    "(https://www.alphavantage.co/support/#api-key). It should take less than 20 "
    "seconds."
)
LIMIT_INFORMATION = (
    "Thank you for using Alpha Vantage! Our standard API rate limit is 25 "
    "requests per day. Please subscribe to any of the premium plans at "
    "https://www.alphavantage.co/premium/ to instantly remove all daily rate "
    "limits."
)
LIMIT_NOTE = (
    "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls "
    "per minute and 500 calls per day. Please visit https://www.alphavantage.co/premium/"
    " if you would like to target a higher API call frequency."
)
LIMIT_BURST = (
    "Thank you for using Alpha Vantage! Please consider spreading out your free API requests "
    "more sparingly (1 request per second). You may subscribe to any of the premium plans at "
    "https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."
)
PREMIUM_FULL = (
    "Thank you for using Alpha Vantage! The **outputsize=full parameter value is a premium "
    "feature** for the TIME_SERIES_DAILY endpoint. You may subscribe to any of the premium "
    "plans at https://www.alphavantage.co/premium/ to instantly unlock all premium features"
)
PREMIUM_ENDPOINT = (
    "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to any "
    "of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock all "
    "premium endpoints"
)
DEMO_KEY = (
    "The **demo** API key is for demo purposes only. Please claim your free API key at "
    "(https://www.alphavantage.co/support/#api-key) to explore our full API offerings. It "
    "takes fewer than 20 seconds."
)
INVALID_INPUTS = (
    "Invalid inputs. Please refer to the API documentation "
    "https://www.alphavantage.co/documentation#newsapi and try again."
)
SENTIMENT_DEFINITION = (
    "x <= -0.35: Bearish; -0.35 < x <= -0.15: Somewhat-Bearish; "
    "-0.15 < x < 0.15: Neutral; 0.15 <= x < 0.35: Somewhat_Bullish; "
    "x >= 0.35: Bullish"
)
RELEVANCE_DEFINITION = "0 < x <= 1, with a higher score indicating higher relevance."
_INFO = {
    "TIME_SERIES_DAILY": "Daily Prices (open, high, low, close) and Volumes",
    "TIME_SERIES_DAILY_ADJUSTED": "Daily Time Series with Splits and Dividend Events",
}


def daily_limit_text(key: str, limit: int = 25) -> str:
    """The daily-limit note, which names the key it was sent verbatim."""
    return (
        f"We have detected your API key as {key} and our standard API rate limit is {limit} "
        "requests per day. Please subscribe to any of the premium plans at "
        "https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."
    )


def information(text: str) -> Response:
    """An `{"Information": ...}` answer (HTTP 200)."""
    return json_response({"Information": text})


def invalid_call(function: str) -> Response:
    """AV's answer to an unknown function or symbol (HTTP 200)."""
    return json_response(
        {
            "Error Message": f"Invalid API call. Please retry or visit the "
            f"documentation ({DOCS}) for {function}."
        }
    )


def sentiment_label(score: float) -> str:
    """AV's label for a sentiment score, per its published definition."""
    if score <= -0.35:
        return "Bearish"
    if score <= -0.15:
        return "Somewhat-Bearish"
    if score < 0.15:
        return "Neutral"
    return "Somewhat-Bullish" if score < 0.35 else "Bullish"


class QueryEndpoint(Endpoint):
    """Answers /query from the world's generators."""

    def __init__(self, world: SimWorld, state: FaultState) -> None:
        super().__init__(world, state)
        self._statements = StatementModel(world.seed, world.filings)

    async def handle(self, request: Request) -> Response:
        """GET /query."""
        params = request.query_params
        key = params.get("apikey", "")
        if key_state(key) != "ok":
            return json_response({"Error Message": KEY_ERROR})
        if key == "demo" and params.get("symbol", "").upper() != "IBM":
            return information(DEMO_KEY)
        refused = self._scenario_refusal(key)
        if refused is not None:
            return refused
        function = params.get("function", "")
        if function in _INFO:
            inst = self.world.universe.by_symbol("alphavantage", params.get("symbol", ""))
            if inst is None:
                return invalid_call(function)
            full = params.get("outputsize", "compact") == "full"
            scenarios = self.state.scenarios
            if function == "TIME_SERIES_DAILY_ADJUSTED" and "premium_adjusted" in scenarios:
                return information(PREMIUM_ENDPOINT)
            if function == "TIME_SERIES_DAILY" and full and "premium_full" in scenarios:
                return information(PREMIUM_FULL)
            if function == "TIME_SERIES_DAILY" and "empty" in scenarios:
                return json_response({})
            return self._daily(inst, function, full, params.get("datatype", "json") == "csv")
        if function == "NEWS_SENTIMENT":
            return self._news(request)
        if function in FUNCTIONS:
            inst = self.world.universe.by_symbol("alphavantage", params.get("symbol", ""))
            amended = "restated" in self.state.scenarios
            return json_response(
                statements(self._statements, inst, function, self.world.clock(), amended)
            )
        return invalid_call(function)

    def _scenario_refusal(self, key: str) -> Response | None:
        """The daily quota's or the 1 request/s burst's answer, when switched on and hit."""
        state = self.state.scenarios
        if "daily_quota" in state and state.quota.exceeded(key, self.world.clock()):
            return information(daily_limit_text(key, state.quota.limit))
        if "burst" in state and state.burst.admit() is not None:
            return information(LIMIT_BURST)
        return None

    def _daily(self, inst: SimInstrument, function: str, full: bool, csv: bool) -> Response:
        prices, sessions = self.world.prices, inst.sessions
        last = sessions.latest(self.world.clock(), closed=True)
        first = 0 if full else sessions.back(last, 99)
        bars = [b for b in prices.daily(inst, first, last) if sessions.is_session(b.number)]
        adjusted = function == "TIME_SERIES_DAILY_ADJUSTED"
        rows = []
        if adjusted:
            scale = prices.split_factor(inst, last)  # adjusted as of the latest session
            mult = prices.adjclose_multipliers(inst, bars, last)
            divs = {d.number: d.raw_amount for d in prices.dividends(inst, last)}
            splits = {n: r for n, r in prices.split_days(inst)}
        for i, bar in enumerate(reversed(bars)):
            row = [
                bar.day.isoformat(),
                f"{bar.open:.4f}",
                f"{bar.high:.4f}",
                f"{bar.low:.4f}",
                f"{bar.close:.4f}",
            ]
            if adjusted:
                adj_close = bar.close / bar.factor * scale * mult[len(bars) - 1 - i]
                row += [
                    f"{adj_close:.4f}",
                    str(bar.volume),
                    f"{divs.get(bar.number, 0.0):.4f}",
                    f"{splits.get(bar.number, 1.0):.1f}",
                ]
            else:
                row.append(str(bar.volume))
            rows.append(row)
        if csv:
            head = (
                [
                    "timestamp",
                    "open",
                    "high",
                    "low",
                    "close",
                    "adjusted_close",
                    "volume",
                    "dividend_amount",
                    "split_coefficient",
                ]
                if adjusted
                else ["timestamp", "open", "high", "low", "close", "volume"]
            )
            text = "\r\n".join(",".join(r) for r in [head, *rows]) + "\r\n"
            disposition = f"attachment; filename=daily_{inst.symbol('alphavantage')}.csv"
            return Response(
                text,
                media_type="application/x-download",
                headers={"Content-Disposition": disposition},
            )
        names = (
            [
                "1. open",
                "2. high",
                "3. low",
                "4. close",
                "5. adjusted close",
                "6. volume",
                "7. dividend amount",
                "8. split coefficient",
            ]
            if adjusted
            else ["1. open", "2. high", "3. low", "4. close", "5. volume"]
        )
        zone = "US/Eastern" if inst.timezone == "America/New_York" else inst.timezone
        meta = {
            "1. Information": _INFO[function],
            "2. Symbol": inst.symbol("alphavantage"),
            "3. Last Refreshed": rows[0][0] if rows else "",
            "4. Output Size": "Full size" if full else "Compact",
            "5. Time Zone": zone,
        }
        series = {r[0]: dict(zip(names, r[1:], strict=True)) for r in rows}
        return json_response({"Meta Data": meta, "Time Series (Daily)": series})

    def _news(self, request: Request) -> Response:
        params, universe = request.query_params, self.world.universe
        tickers = [t.strip() for t in params.get("tickers", "").split(",") if t.strip()]
        insts = [universe.by_symbol("alphavantage", t) for t in tickers]
        try:
            now = datetime.fromtimestamp(self.world.clock(), UTC)
            end = _av_time(params["time_to"]) if "time_to" in params else now
            start = (
                _av_time(params["time_from"]) if "time_from" in params else end - timedelta(days=30)
            )
            limit = min(1000, max(1, int(params.get("limit", "50"))))
        except ValueError:
            return json_response({"Information": INVALID_INPUTS})
        if None in insts:
            return json_response({"Information": INVALID_INPUTS})
        pool = insts or [i for i in universe.instruments if not i.synthetic]
        wanted = {i.id for i in insts}  # type: ignore[union-attr]
        latest = params.get("sort", "LATEST") != "EARLIEST"
        order = self.world.news.newest_first if latest else self.world.news.window
        stories = order(pool, start, min(end, now))  # type: ignore[arg-type]
        feed = []
        for story in stories:
            copies = story.copies_for("alphavantage")
            if copies and wanted <= set(story.tickers):
                feed.append(self._item(story, copies[0].url))
                if latest and len(feed) >= limit:
                    break  # the market-wide feed over a large universe: only the latest days
        if not latest:
            feed.reverse()
        feed = feed[:limit]
        return json_response(
            {
                "items": str(len(feed)),
                "sentiment_score_definition": SENTIMENT_DEFINITION,
                "relevance_score_definition": RELEVANCE_DEFINITION,
                "feed": feed,
            }
        )

    def _item(self, story: Story, url: str) -> dict:
        """A feed entry with AV's own (imperfect) estimate of the story's sentiment."""
        h = rng.key(self.world.seed, "av-sentiment", story.id)
        score = max(-1.0, min(1.0, 0.75 * story.score + 0.12 * rng.normal(h)))
        tickers = []
        for i, inst_id in enumerate(story.tickers):
            inst = self.world.universe.get(inst_id)
            g = rng.at(h, i + 1)
            relevance = 0.55 + 0.45 * rng.unit(g) if i == 0 else 0.08 + 0.3 * rng.unit(g)
            t_score = max(-1.0, min(1.0, score + 0.1 * rng.normal(rng.mix64(g))))
            tickers.append(
                {
                    "ticker": inst.symbol("alphavantage") if inst else inst_id,
                    "relevance_score": f"{relevance:.6f}",
                    "ticker_sentiment_score": f"{t_score:.6f}",
                    "ticker_sentiment_label": sentiment_label(t_score),
                }
            )
        return {
            "title": story.title,
            "url": url,
            "time_published": story.published_at.strftime("%Y%m%dT%H%M%S"),
            "authors": [story.author] if story.author else [],
            "summary": story.description,
            "banner_image": f"https://{story.domain}/images/{story.id}.jpg",
            "source": story.source,
            "category_within_source": "n/a",
            "source_domain": story.domain,
            "topics": [{"topic": story.topic, "relevance_score": "0.999999"}],
            "overall_sentiment_score": round(score, 6),
            "overall_sentiment_label": sentiment_label(score),
            "ticker_sentiment": tickers,
        }


def _av_time(text: str) -> datetime:
    """AV's YYYYMMDDTHHMM (seconds optional), read as UTC."""
    fmt = "%Y%m%dT%H%M%S" if len(text) == 15 else "%Y%m%dT%H%M"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def _limit_response(variant: str) -> Response:
    if variant == "note":
        return json_response({"Note": LIMIT_NOTE})
    return information(LIMIT_BURST if variant == "burst" else LIMIT_INFORMATION)


def _echo_key(body: dict, key: str) -> bool:
    """The daily-limit note names the key; other answers get it appended."""
    if body.get("Information") == LIMIT_INFORMATION:
        body["Information"] = daily_limit_text(key)
        return True
    return False


def build(world: SimWorld, state: FaultState) -> Starlette:
    """The /query route."""
    return Starlette(routes=[Route("/query", QueryEndpoint(world, state).handle)])


SPEC = ProviderSpec("alphavantage", build, _limit_response, html_error, _echo_key)

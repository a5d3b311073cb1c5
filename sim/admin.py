"""The admin API on its own port: faults, counters, the universe and the news truth.

GET    /_sim/health                    {"ok": true}
GET    /_sim/urls                      base URL per provider and of the admin API
GET    /_sim/universe                  instruments with symbols, splits, dividend policy
GET    /_sim/faults[/{provider}]       current fault configuration(s)
PUT    /_sim/faults/{provider}         replace a provider's faults (JSON body, see faults.py)
DELETE /_sim/faults[/{provider}]       no faults (ends outages, reopens refused listeners)
GET    /_sim/scenarios[/{provider}]    switched-on scenarios (see scenarios.py)
PUT    /_sim/scenarios/{provider}      replace a provider's scenarios ({"live_row": true})
DELETE /_sim/scenarios[/{provider}]    no scenarios
GET    /_sim/splits                    splits injected at run time
POST   /_sim/splits                    inject a split ({"instrument", "date", "numerator", ...})
DELETE /_sim/splits                    drop the injected splits
GET    /_sim/stats                     counters per provider; DELETE zeroes them
GET    /_sim/truth/news?symbol=&from=&to=&provider=&language=   stories with true labels
GET    /metrics                        the counters in Prometheus text format
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sim.calendar import parse_iso
from sim.faults import FaultConfig, FaultConfigError
from sim.providers.base import json_response
from sim.scenarios import Scenarios

if TYPE_CHECKING:
    from sim.faults import FaultState
    from sim.runtime import SimRuntime
    from sim.universe import SimInstrument


T = TypeVar("T")

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_COUNTERS = {
    "requests": "Requests that reached a simulated provider.",
    "admitted": "Requests admitted by the simulated rate limit.",
    "limited": "Requests answered with the rate-limit response.",
    "outage_503": "Requests answered 503 during an outage window.",
    "errors_injected": "Requests answered with an injected 5xx.",
    "slow": "Requests held for the slow delay.",
    "malformed": "Bodies made invalid JSON.",
    "truncated": "Bodies cut short.",
    "refusals": "Times a listener was closed for a refuse outage.",
}
# Counters with a second label: (stats field, label name) after the help text.
_LABELLED_COUNTERS = (
    ("responses", "Responses sent, by HTTP status.", ("by_status", "status")),
    ("limited_by_window", "Rate-limited requests, by refusing window.", ("limited_by", "window")),
)


def stats_exposition(stats: dict[str, dict]) -> str:
    """Per-provider counters as Prometheus text (no global registry: several sims may share a
    process)."""
    lines = []
    for key, help_text in _COUNTERS.items():
        name = f"stockray_sim_{key}_total"
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        lines += [f'{name}{{provider="{p}"}} {s[key]}' for p, s in stats.items()]
    for key, help_text, (field, label) in _LABELLED_COUNTERS:
        name = f"stockray_sim_{key}_total"
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        for provider, s in stats.items():
            lines += [
                f'{name}{{provider="{provider}",{label}="{value}"}} {n}'
                for value, n in s[field].items()
            ]
    lines += [
        "# HELP stockray_sim_listening Whether the provider's port accepts connections.",
        "# TYPE stockray_sim_listening gauge",
    ]
    lines += [
        f'stockray_sim_listening{{provider="{p}"}} {int(s["listening"])}' for p, s in stats.items()
    ]
    return "\n".join(lines) + "\n"


def build_admin(runtime: SimRuntime) -> Starlette:
    """The admin app bound to `runtime`."""

    async def health(request: Request) -> Response:
        return json_response({"ok": True, "seed": runtime.world.seed})

    async def urls(request: Request) -> Response:
        return json_response({"urls": runtime.urls, "admin_url": runtime.admin.url})

    async def universe(request: Request) -> Response:
        return json_response(
            {"instruments": [_instrument(i) for i in runtime.world.universe.instruments]}
        )

    faults = _per_provider(
        runtime,
        lambda name, body: FaultConfig.from_dict(body),
        runtime.set_faults,
        runtime.clear_faults,
        lambda state: state.config.to_dict(),
    )
    scenarios = _per_provider(
        runtime,
        Scenarios.from_dict,
        runtime.set_scenarios,
        runtime.clear_scenarios,
        lambda state: state.scenarios.scenarios.to_dict(),
    )

    async def splits(request: Request) -> Response:
        world = runtime.world
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"{}")
                world.add_split(
                    str(body["instrument"]),
                    date.fromisoformat(str(body["date"])),
                    float(body.get("numerator", 1)),
                    float(body.get("denominator", 1)),
                )
            except KeyError as exc:
                return json_response({"error": f"unknown or missing {exc}"}, 400)
            except (ValueError, TypeError, AttributeError) as exc:
                return json_response({"error": str(exc)}, 400)
        elif request.method == "DELETE":
            world.clear_splits()
        return json_response({"splits": world.injected_splits()})

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            runtime.reset_stats()
        return json_response(runtime.stats())

    async def metrics(request: Request) -> Response:
        return Response(stats_exposition(runtime.stats()), media_type=PROMETHEUS_TYPE)

    async def truth_news(request: Request) -> Response:
        params = request.query_params
        world = runtime.world
        try:
            end = parse_iso(params["to"], end=True) if "to" in params else datetime.now(UTC)
            start = parse_iso(params["from"]) if "from" in params else end - timedelta(days=7)
        except ValueError as exc:
            return json_response({"error": f"bad from/to: {exc}"}, 400)
        if "symbol" in params:
            insts = [world.universe.find(s) for s in params["symbol"].split(",")]
            if None in insts:
                return json_response({"error": f"unknown symbol in {params['symbol']!r}"}, 404)
        else:
            insts = [i for i in world.universe.instruments if not i.synthetic]
        stories = world.news.window(insts, start, end)  # type: ignore[arg-type]
        provider, language = params.get("provider"), params.get("language")
        out = [
            s.truth()
            for s in stories
            if (not provider or s.copies_for(provider)) and (not language or s.language == language)
        ]
        return json_response({"count": len(out), "stories": out})

    return Starlette(
        routes=[
            Route("/_sim/health", health),
            Route("/_sim/urls", urls),
            Route("/_sim/universe", universe),
            Route("/_sim/faults", faults, methods=["GET", "DELETE"]),
            Route("/_sim/faults/{provider}", faults, methods=["GET", "PUT", "DELETE"]),
            Route("/_sim/scenarios", scenarios, methods=["GET", "DELETE"]),
            Route("/_sim/scenarios/{provider}", scenarios, methods=["GET", "PUT", "DELETE"]),
            Route("/_sim/splits", splits, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/stats", stats, methods=["GET", "DELETE"]),
            Route("/_sim/truth/news", truth_news),
            Route("/metrics", metrics),
        ]
    )


def _per_provider(
    runtime: SimRuntime,
    parse: Callable[[str, Any], T],
    put: Callable[[str, T], object],
    clear: Callable[[str | None], object],
    show: Callable[[FaultState], dict],
) -> Callable[[Request], Awaitable[Response]]:
    """The handler of a per-provider setting (faults, scenarios): GET shows it, PUT replaces
    one provider's with the JSON body as `parse` reads it, DELETE clears one or all."""

    async def handle(request: Request) -> Response:
        name = request.path_params.get("provider")
        if name is not None and name not in runtime.states:
            return json_response({"error": f"unknown provider {name!r}"}, 404)
        if request.method == "PUT":
            try:
                value = parse(name, json.loads(await request.body() or b"{}"))
            except (FaultConfigError, json.JSONDecodeError) as exc:
                return json_response({"error": str(exc)}, 400)
            await _settled(put(name, value))
        elif request.method == "DELETE":
            await _settled(clear(name))
        names = [name] if name else list(runtime.states)
        current = {n: show(runtime.states[n]) for n in names}
        return json_response(current[name] if name else current)

    return handle


async def _settled(result: object) -> None:
    # The runtime changes faults on its loop (async) and scenarios in place (sync).
    if inspect.isawaitable(result):
        await result


def _instrument(inst: SimInstrument) -> dict:
    policy = inst.dividend
    return {
        "id": inst.id,
        "name": inst.name,
        "exchange": inst.exchange,
        "currency": inst.currency,
        "quote_currency": inst.quote_currency,
        "timezone": inst.timezone,
        "symbols": dict(inst.symbols),
        "synthetic": inst.synthetic,
        "splits": [
            {"date": s.day.isoformat(), "ratio": f"{s.numerator:g}:{s.denominator:g}"}
            for s in inst.splits
        ],
        "dividends": None
        if policy is None
        else {
            "since": policy.start.isoformat(),
            "annual_yield": round(policy.annual_yield, 4),
            "months": list(policy.months),
        },
    }

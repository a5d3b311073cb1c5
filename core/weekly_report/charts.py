"""The weekly report's charts, drawn by matplotlib and returned as inline SVG text.

matplotlib's object API (`Figure`, no pyplot): no GUI backend, no global figure state, so it
runs in any process. Text stays text (`svg.fonttype: none`), ids are stable
(`svg.hashsalt`) and the SVG carries no metadata or DOCTYPE, so a page embeds it as is with
nothing fetched from elsewhere. A chart without data still draws its axes and says so.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from core.weekly_report.model import WeeklyReport

NO_DATA = "no data"
RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "stockray-weekly",
    "text.parse_math": False,  # an instrument or model name with `$` is text, not TeX
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
SIZE = (7.0, 2.8)
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)  # the XML declaration and DOCTYPE


def charts(report: WeeklyReport) -> dict[str, str]:
    """Each chart's title → its SVG, in the report's order."""
    drawers: list[tuple[str, Callable[[Figure, WeeklyReport], None]]] = [
        ("Requests and p95 latency per day", _requests),
        ("Error rate per day (5xx answers)", _errors),
        ("Job runs and failures per day, by kind", _jobs),
        ("Collection freshness per capability (at report time)", _freshness),
        ("LLM spend per day by model, against the daily budget", _spend),
        ("Top instruments by news volume", _news),
    ]
    out = {}
    with rc_context(RC):
        for title, draw in drawers:
            fig = Figure(figsize=SIZE, layout="constrained")
            draw(fig, report)
            out[title] = _svg(fig)
    return out


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None,
                                             "Type": None})  # fmt: skip
    return _PROLOGUE.sub("", buf.getvalue(), count=1)


def _labels(days: list[date]) -> list[str]:
    return [d.strftime("%m-%d %a") for d in days]


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, NO_DATA, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _requests(fig: Figure, r: WeeklyReport) -> None:
    ax = fig.add_subplot()
    by_day = {d.day: d for d in r.traffic}
    x = range(len(r.days))
    ax.bar(x, [by_day[d].requests if d in by_day else 0 for d in r.days], color="#4c78a8")
    ax.set_ylabel("requests")
    ax.set_xticks(list(x), _labels(r.days))
    lat = ax.twinx()
    p95 = [by_day[d].p95_s if d in by_day else None for d in r.days]
    lat.plot(x, [v * 1000 if v is not None else float("nan") for v in p95], "o-", color="#e45756")
    lat.set_ylabel("p95 latency (ms)")
    lat.set_ylim(bottom=0)
    if not r.traffic:
        _no_data(ax)


def _errors(fig: Figure, r: WeeklyReport) -> None:
    ax = fig.add_subplot()
    by_day = {d.day: d for d in r.traffic}
    x = range(len(r.days))
    rates = [by_day[d].error_rate if d in by_day else None for d in r.days]
    ax.bar(x, [100 * v if v is not None else 0 for v in rates], color="#e45756")
    ax.set_ylabel("5xx per request (%)")
    ax.set_xticks(list(x), _labels(r.days))
    if not r.traffic:
        _no_data(ax)


def _stacked(ax: Axes, days: list[date], series: dict[str, dict[date, float]]) -> None:
    x = list(range(len(days)))
    bottom = [0.0] * len(days)
    for name, values in series.items():
        heights = [values.get(d, 0.0) for d in days]
        ax.bar(x, heights, bottom=bottom, label=name)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xticks(x, _labels(days))
    if series:
        ax.legend(fontsize=7, ncols=min(4, len(series)), loc="upper left")


def _jobs(fig: Figure, r: WeeklyReport) -> None:
    runs, failed = fig.subplots(1, 2)
    by_kind: dict[str, dict[date, float]] = {}
    failures: dict[str, dict[date, float]] = {}
    for j in r.jobs:
        by_kind.setdefault(j.kind, {})[j.day] = j.runs
        if j.failed:
            failures.setdefault(j.kind, {})[j.day] = j.failed
    _stacked(runs, r.days, by_kind)
    runs.set_title("runs", fontsize=9)
    _stacked(failed, r.days, failures)
    failed.set_title("failed", fontsize=9)
    for ax in (runs, failed):
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    if not r.jobs:
        _no_data(runs)
    if not failures:
        _no_data(failed)


def _freshness(fig: Figure, r: WeeklyReport) -> None:
    ax = fig.add_subplot()
    names = [f.capability for f in r.freshness]
    left = [0] * len(names)
    for part, color in (("fresh", "#54a24b"), ("stale", "#f58518"), ("never", "#b0b0b0")):
        widths = [getattr(f, part) for f in r.freshness]
        ax.barh(names, widths, left=left, color=color, label=part)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_xlabel("instruments")
    if names:
        ax.legend(fontsize=7, loc="lower right")
    else:
        _no_data(ax)


def _spend(fig: Figure, r: WeeklyReport) -> None:
    ax = fig.add_subplot()
    by_model: dict[str, dict[date, float]] = {}
    for s in r.spend:
        by_model.setdefault(s.model, {})[s.day] = s.cost_usd
    _stacked(ax, r.days, by_model)
    limits = {b.day: b.limit_usd for b in r.budget}
    x = range(len(r.days))
    ax.step(x, [limits.get(d, float("nan")) for d in r.days], where="mid", color="black",
            linestyle="--", label="daily budget")  # fmt: skip
    ax.set_ylabel("USD")
    ax.legend(fontsize=7, loc="upper left")
    if not r.spend:
        _no_data(ax)


def _news(fig: Figure, r: WeeklyReport) -> None:
    ax = fig.add_subplot()
    top = list(reversed(r.news))  # the most on top
    ax.barh([n.instrument_id for n in top], [n.articles for n in top], color="#72b7b2")
    ax.set_xlabel("articles published")
    if not r.news:
        _no_data(ax)

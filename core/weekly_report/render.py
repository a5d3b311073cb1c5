"""The weekly report as one HTML page: jinja2 (autoescaped) around matplotlib's SVGs."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from core.weekly_report.charts import charts
from core.weekly_report.model import WeeklyReport

TEMPLATE = "template.html.j2"


@cache
def _template() -> Template:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent),
        autoescape=True,  # every value is text; only the charts' SVG is marked safe
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(TEMPLATE)


def render_html(report: WeeklyReport) -> str:
    """The page: headline numbers, the charts inline, and the tables behind them."""
    drawn = {title: Markup(svg) for title, svg in charts(report).items()}
    return _template().render(
        r=report,
        totals=report.totals(),
        jobs_by_kind=report.jobs_by_kind(),
        spend_by_model=report.spend_by_model(),
        charts=drawn,
    )

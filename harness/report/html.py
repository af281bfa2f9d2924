"""The HTML report: one self-contained file (inline CSS, charts as base64 PNG, no scripts,
no fonts or images from anywhere else), rendered with jinja2 from ``templates/report.html.j2``.

    html = render_html(ReportContent.build(results=results))
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from .analysis import COMPARED, ERROR_RATE_REGRESSION_PP, LATENCY_REGRESSION, RATE_REGRESSION, when
from .content import ReportContent
from .formatting import FILTERS

__all__ = ["render_html", "TEMPLATES"]

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.filters["when"] = when
    return env


def render_html(content: ReportContent) -> str:
    """The whole report as one HTML document."""
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            c=content,
            compared=list(COMPARED),
            thresholds={
                "latency": round(LATENCY_REGRESSION * 100),
                "errors": ERROR_RATE_REGRESSION_PP,
                "rate": round(RATE_REGRESSION * 100),
            },
        )
    )

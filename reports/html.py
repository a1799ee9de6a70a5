"""HTML: one self-contained page (inline CSS, SVG and a little JS; nothing fetched).

Rendered by jinja2 with autoescaping from `templates/report.html.j2`, which receives the
Report and the rule-metadata lookup and nothing else. Every number it shows comes from the
Report (charts only scale them to pixels).
"""

from __future__ import annotations

import math

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from auditor.findings import Report
from reports import DEFAULT_OPTIONS, RenderOptions

__all__ = ["environment", "render"]

_ENV: Environment | None = None


def _number(value: float | int | None) -> str:
    """Compact, readable numbers for tables (`0.0001`, `1.2e-07`, `3.142`, `25,557,032`)."""
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0 or not math.isfinite(value):
        return repr(value)
    if abs(value) < 1e-3 or abs(value) >= 1e6:
        return f"{value:.3g}"
    return f"{value:.4g}"


def environment() -> Environment:
    global _ENV
    if _ENV is None:
        env = Environment(
            loader=PackageLoader("reports", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.do"],
        )
        env.filters["num"] = _number
        env.tests["toplevel"] = lambda path: "/" not in str(path)
        _ENV = env
    return _ENV


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """The report as one HTML document."""
    template = environment().get_template("report.html.j2")
    return template.render(report=report, rules=options.rules)

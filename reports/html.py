"""HTML: one self-contained page (inline CSS, SVG and a little JS; nothing fetched).

Rendered by jinja2 with autoescaping: each model's section from `templates/_model.html.j2`
(the model, its position and the rule-metadata lookup), its overview row from
`templates/_row.html.j2`, and the page around them from `templates/report.html.j2` (the
Report, the lookup, the rows and the sections). Every number it
shows comes from the Report (charts only scale them to pixels). The CLI renders each
section as its model finishes and joins them at the end (`render_document`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from auditor.numbers import number, percent
from auditor.reports import DEFAULT_OPTIONS, Pieces, RenderOptions, worst_finding
from auditor.reports.safe import visible
from auditor.results.findings import ModelReport, Report

__all__ = ["environment", "render", "render_document", "render_model", "render_row"]

_ENV: Environment | None = None


def _visible(value: object) -> object:
    """A value as the page shows it: text visible, markup (the templates' own, and what
    they escape on purpose, as a rule's documentation) as it is."""
    return visible(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def environment() -> Environment:
    global _ENV
    if _ENV is None:
        env = Environment(
            loader=PackageLoader("auditor.reports", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.do"],
            # Every value is written visible before it is escaped: a layer name's escape
            # sequences, line breaks and bidirectional overrides show as escapes
            # (`reports.safe`), so that no line of the page is a name's own.
            finalize=_visible,
        )
        env.filters["num"] = functools.partial(number, missing="")
        env.filters["percent"] = percent
        env.tests["toplevel"] = lambda path: "/" not in str(path)
        _ENV = env
    return _ENV


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """The report as one HTML document."""
    return Pieces(render_model, render_document, render_row).render(report, options=options)


def render_model(
    model: ModelReport, index: int, *, options: RenderOptions = DEFAULT_OPTIONS
) -> str:
    """One model's `<section>`; `index` is its position in the report, from 1."""
    template = environment().get_template("_model.html.j2")
    return template.render(model=model, index=index, rules=options.rules)


def render_row(model: ModelReport, index: int, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """One model's row of the overview, linking to its section."""
    template = environment().get_template("_row.html.j2")
    return template.render(model=model, index=index, worst=worst_finding(model))


def render_document(
    report: Report,
    sections: Iterable[str],
    *,
    options: RenderOptions = DEFAULT_OPTIONS,
    rows: Iterable[str] = (),
) -> Iterator[str]:
    """The page in pieces, around `sections` (from `render_model`) after an overview of
    `rows` (from `render_row`) when there are several models, each in report order. Reads
    only the report's totals, never `report.models`."""
    template = environment().get_template("report.html.j2")
    # Both already escaped by their templates; the template reads the rows, then the
    # sections, one after the other.
    yield from template.generate(
        report=report,
        rules=options.rules,
        rows=(Markup(row) for row in rows),
        sections=(Markup(section) for section in sections),
    )

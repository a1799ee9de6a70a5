"""Markdown for pull-request comments and GitHub job summaries.

`render_model` and `render_document` produce the same text in pieces: the summary, then
each model's table. The document reads only the report's totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from auditor.reports import DEFAULT_OPTIONS, Pieces, RenderOptions, source_label
from auditor.reports.safe import visible
from auditor.results.findings import Finding, ModelReport, Report, Severity

__all__ = ["render", "render_document", "render_model"]

_ORDER = (Severity.ERROR, Severity.WARNING, Severity.INFO)


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """A summary line, a table per model, and the rule links."""
    return Pieces(render_model, render_document).render(report, options=options)


def render_model(
    model: ModelReport, index: int, *, options: RenderOptions = DEFAULT_OPTIONS
) -> str:
    """One model's heading and table, after a blank line."""
    return "\n\n" + "\n".join(_model(model, options))


def render_document(
    report: Report, tables: Iterable[str], *, options: RenderOptions = DEFAULT_OPTIONS
) -> Iterator[str]:
    """`render(report)` in pieces: the summary, then `tables` (from `render_model`, in
    report order); reads only `report.summary`."""
    s = report.summary
    verdict = "❌" if s.errors else "⚠️" if s.warnings else "✅"
    yield "\n".join(
        [
            "## keras-audit",
            "",
            f"{verdict} **{s.findings} finding{'s' if s.findings != 1 else ''}** "
            f"({s.errors} error{'s' if s.errors != 1 else ''}, "
            f"{s.warnings} warning{'s' if s.warnings != 1 else ''}, {s.infos} info"
            + (f", {s.suppressed} suppressed" if s.suppressed else "")
            + f") in {s.models} model{'s' if s.models != 1 else ''}.",
        ]
    )
    yield from tables
    yield "\n"


def _model(model: ModelReport, options: RenderOptions) -> list[str]:
    src = model.source
    meta = source_label(model)
    lines = [f"### `{_code(src.path)}` ({_cell(meta)})", ""]
    if not model.findings:
        return [*lines, "No findings."]
    lines += ["| severity | rule | layer | message |", "|---|---|---|---|"]
    for severity in _ORDER:
        for finding in (f for f in model.findings if f.severity is severity):
            lines.append(_row(finding, options))
    return lines


def _row(finding: Finding, options: RenderOptions) -> str:
    info = options.rules.get(finding.code)
    rule = f"{finding.code} {finding.name}"
    if info is not None:
        rule = f"[{rule}]({info.help_uri})"
    where = finding.location.layer_path or "<model>"
    mark = " (suppressed)" if finding.suppressed else ""
    return (
        f"| {finding.severity.value}{mark} | {rule} | `{_code(where)}` | {_cell(finding.message)} |"
    )


def _fold(text: str) -> str:
    """One line: line breaks folded into spaces (a CR or LF would end the table row, and a
    code span with it), other control characters written as escapes."""
    return visible(text.replace("\r\n", " ").replace("\r", " ").replace("\n", " "))


def _code(text: str) -> str:
    """Inside a code span nothing is decoded: folded, backticks that would close it
    replaced, the table's pipes escaped."""
    return _fold(text).replace("`", "'").replace("|", "\\|")


def _cell(text: str) -> str:
    """Table-cell safe: folded, HTML-sensitive characters and the table's pipes escaped."""
    return (
        _fold(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
    )

"""Markdown for pull-request comments and GitHub job summaries.

`render_model`, `render_row` and `render_document` produce the same text in pieces: the
summary, an overview with a row per model linking to its section (when there are several
models), then each model's table. The document reads only the report's totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from auditor.numbers import number
from auditor.reports import DEFAULT_OPTIONS, Pieces, RenderOptions, source_label, worst_finding
from auditor.reports.folding import Fold, folded
from auditor.reports.safe import visible
from auditor.results.findings import Finding, ModelReport, Report, Severity

__all__ = ["render", "render_document", "render_model", "render_row"]

_WORST_CHARS = 120  # of the worst finding's message, in an overview row

_ORDER = (Severity.ERROR, Severity.WARNING, Severity.INFO)


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """A summary line, a table per model, and the rule links."""
    return Pieces(render_model, render_document, render_row).render(report, options=options)


def render_model(
    model: ModelReport, index: int, *, options: RenderOptions = DEFAULT_OPTIONS
) -> str:
    """One model's heading (with its anchor, `model-<index>`) and table, after a blank line."""
    return f'\n\n<a name="model-{index}"></a>\n\n' + "\n".join(_model(model, options))


def render_row(model: ModelReport, index: int, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """One model's overview row: the file (a link to its section), format, parameters,
    findings by severity, and the worst finding."""
    src, m = model.source, model.summary
    worst = worst_finding(model)
    shown = "—"
    if worst is not None:
        message = (
            worst.message
            if len(worst.message) <= _WORST_CHARS
            else (worst.message[: _WORST_CHARS - 1] + "…")
        )
        shown = f"{worst.code} {_cell(message)}"
    return (
        f"| [`{_code(src.path)}`](#model-{index}) | {_cell(src.format)} | "
        f"{number(m.parameters)} | {m.errors} | {m.warnings} | {m.infos} | {shown} |\n"
    )


def render_document(
    report: Report,
    tables: Iterable[str],
    *,
    options: RenderOptions = DEFAULT_OPTIONS,
    rows: Iterable[str] = (),
) -> Iterator[str]:
    """`render(report)` in pieces: the summary, the overview of `rows` (from `render_row`)
    when the report has more than one model, then `tables` (from `render_model`), each in
    report order; reads only `report.summary`."""
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
    if s.models > 1:
        yield (
            "\n\n| model | format | parameters | errors | warnings | info | worst finding |\n"
            "|---|---|---:|---:|---:|---:|---|\n"
        )
        yield from rows
    yield from tables
    yield "\n"


def _model(model: ModelReport, options: RenderOptions) -> list[str]:
    src = model.source
    meta = source_label(model)
    lines = [f"### `{_code(src.path)}` ({_cell(meta)})", ""]
    if not model.findings:
        return [*lines, "No findings."]
    lines += ["| severity | rule | layer | message |", "|---|---|---|---|"]
    ordered = [f for severity in _ORDER for f in model.findings if f.severity is severity]
    for item in folded(ordered, verbose=options.verbose):
        lines.append(_fold_row(item, options) if isinstance(item, Fold) else _row(item, options))
    return lines


def _rule(code: str, name: str, options: RenderOptions) -> str:
    info = options.rules.get(code)
    return f"[{code} {name}]({info.help_uri})" if info is not None else f"{code} {name}"


def _fold_row(fold: Fold, options: RenderOptions) -> str:
    mark = " (suppressed)" if fold.findings[0].suppressed else ""
    return (
        f"| {fold.severity.value}{mark} | {_rule(fold.code, fold.name, options)} | … | "
        f"{_cell(fold.summary())} (`--verbose` lists each) |"
    )


def _row(finding: Finding, options: RenderOptions) -> str:
    rule = _rule(finding.code, finding.name, options)
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

"""Text: findings grouped by model then severity, one line each (a rule's per-layer
findings folded into one line, `reports.folding`, unless verbose), and a summary footer.

Everything taken from the audited files is written `visible` (`reports.safe`): no escape
sequence reaches the terminal, and no line break starts a line of its own.

`render_model` and `render_document` produce the same text in pieces: each model's block,
then the footer after them. The document reads only the report's totals, so a run that
writes text keeps nothing of a model once its block is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from auditor.reports import DEFAULT_OPTIONS, Pieces, RenderOptions, source_label
from auditor.reports.folding import Fold, folded
from auditor.reports.safe import visible
from auditor.results.findings import Finding, ModelReport, Report, Severity

__all__ = ["render", "render_document", "render_model", "summary_line"]

_COLORS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}
_ORDER = (Severity.ERROR, Severity.WARNING, Severity.INFO)


def _paint(text: str, code: str, on: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if on else text


def _line(finding: Finding, options: RenderOptions) -> list[str]:
    loc = finding.location
    where = loc.layer_path or "<model>"
    if loc.weight and not loc.layer_path.endswith(loc.weight):
        where = f"{where}:{loc.weight}"
    tag = _paint(f"{finding.code} {finding.name}", _COLORS[finding.severity], options.color)
    mark = " [suppressed]" if finding.suppressed else ""
    lines = [f"  {visible(where)}: {tag}{mark} {visible(finding.message)}"]
    if options.verbose and finding.fix:
        lines.append(f"      fix: {visible(finding.fix)}")
    if options.verbose and loc.config_key:
        lines.append(f"      config: {visible(loc.config_key)}")
    return lines


def _model(model: ModelReport, options: RenderOptions) -> list[str]:
    src = model.source
    meta = source_label(model)
    lines = [
        _paint(visible(src.path), "1", options.color) + (f" ({visible(meta)})" if meta else "")
    ]
    if not model.findings:
        lines.append("  no findings")
    ordered = [f for severity in _ORDER for f in model.findings if f.severity is severity]
    for item in folded(ordered, verbose=options.verbose):
        if isinstance(item, Fold):
            tag = _paint(f"{item.code} {item.name}", _COLORS[item.severity], options.color)
            mark = " [suppressed]" if item.findings[0].suppressed else ""
            lines.append(f"  ... {tag}{mark}: {visible(item.summary())} (--verbose lists each)")
        else:
            lines.extend(_line(item, options))
    for error in model.errors:
        lines.append(f"  rule {error.code} crashed: {visible(error.message)}")
    return lines


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """Human-readable text. Colour only when `options.color`."""
    return Pieces(render_model, render_document).render(report, options=options)


def render_model(
    model: ModelReport, index: int, *, options: RenderOptions = DEFAULT_OPTIONS
) -> str:
    """One model's block and the blank line after it."""
    return "\n".join(_model(model, options)) + "\n\n"


def render_document(
    report: Report, blocks: Iterable[str], *, options: RenderOptions = DEFAULT_OPTIONS
) -> Iterator[str]:
    """`render(report)` in pieces: `blocks` (from `render_model`, in report order), then the
    footer; reads only `report.summary`."""
    yield from blocks
    yield summary_line(report) + "\n"


def summary_line(report: Report) -> str:
    """`Found 3 findings (1 error, 2 warnings, 0 info) in 2 models in 0.41 s`."""
    s = report.summary
    suppressed = f", {s.suppressed} suppressed" if s.suppressed else ""
    return (
        f"Found {s.findings} finding{'s' if s.findings != 1 else ''} "
        f"({s.errors} error{'s' if s.errors != 1 else ''}, "
        f"{s.warnings} warning{'s' if s.warnings != 1 else ''}, {s.infos} info{suppressed}) "
        f"in {s.models} model{'s' if s.models != 1 else ''} in {s.duration_seconds:.2f} s"
    )

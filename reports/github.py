"""GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` line per finding.

Data is escaped as the runner expects (`%`, CR, LF), and so are properties (also `:` and
`,`); what comes from the audited file is written `visible` first, so that its own line
breaks and escape sequences show as escapes and cannot end a command. The Markdown job
summary is `reports.markdown`; the CLI appends it to
`$GITHUB_STEP_SUMMARY` when that variable is set. `render_model` gives one model's lines,
and the document is those lines alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from auditor.reports import DEFAULT_OPTIONS, Pieces, RenderOptions
from auditor.reports.folding import Fold, folded
from auditor.reports.safe import visible
from auditor.results.findings import ModelReport, Report, Severity

__all__ = [
    "escape_data",
    "escape_property",
    "render",
    "render_document",
    "render_model",
]

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """One workflow command per unsuppressed finding."""
    return Pieces(render_model, render_document).render(report, options=options)


def render_model(
    model: ModelReport, index: int, *, options: RenderOptions = DEFAULT_OPTIONS
) -> str:
    """The workflow commands of one model's unsuppressed findings, a line each (a rule's
    per-layer findings folded into one, `reports.folding`, unless verbose)."""
    active = [f for f in model.findings if f.suppressed is None]
    lines = []
    for item in folded(active, verbose=options.verbose):
        if isinstance(item, Fold):
            code, name, severity = item.code, item.name, item.severity
            message = f"{visible(item.summary())} (--verbose lists each)"
        else:
            code, name, severity = item.code, item.name, item.severity
            where = item.location.layer_path or "<model>"
            message = f"{visible(where)}: {visible(item.message)}"
            if item.fix:
                message += f"\nFix: {visible(item.fix)}"
        properties = ",".join(
            f"{key}={escape_property(value)}"
            for key, value in (
                ("file", visible(model.source.path)),
                ("line", "1"),
                ("title", f"{code} {name}"),
            )
        )
        lines.append(f"::{_COMMANDS[severity]} {properties}::{escape_data(message)}\n")
    return "".join(lines)


def render_document(
    report: Report, parts: Iterable[str], *, options: RenderOptions = DEFAULT_OPTIONS
) -> Iterator[str]:
    """The models' lines (from `render_model`, in report order), with nothing around
    them; reads nothing of `report`."""
    yield from parts

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
    """The workflow commands of one model's unsuppressed findings, a line each."""
    lines = []
    for finding in model.findings:
        if finding.suppressed is not None:
            continue
        where = finding.location.layer_path or "<model>"
        properties = ",".join(
            f"{key}={escape_property(value)}"
            for key, value in (
                ("file", visible(model.source.path)),
                ("line", "1"),
                ("title", f"{finding.code} {finding.name}"),
            )
        )
        message = f"{visible(where)}: {visible(finding.message)}"
        if finding.fix:
            message += f"\nFix: {visible(finding.fix)}"
        lines.append(f"::{_COMMANDS[finding.severity]} {properties}::{escape_data(message)}\n")
    return "".join(lines)


def render_document(
    report: Report, parts: Iterable[str], *, options: RenderOptions = DEFAULT_OPTIONS
) -> Iterator[str]:
    """The models' lines (from `render_model`, in report order), with nothing around
    them; reads nothing of `report`."""
    yield from parts

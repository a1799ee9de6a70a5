"""GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` line per finding.

Data is escaped as the runner expects (`%`, CR, LF), and so are properties (also `:` and
`,`). The Markdown job summary is `reports.markdown`; the CLI appends it to
`$GITHUB_STEP_SUMMARY` when that variable is set.
"""

from __future__ import annotations

from auditor.findings import Report, Severity
from reports import DEFAULT_OPTIONS, RenderOptions

__all__ = ["escape_data", "escape_property", "render"]

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """One workflow command per unsuppressed finding."""
    lines = []
    for model in report.models:
        for finding in model.findings:
            if finding.suppressed is not None:
                continue
            where = finding.location.layer_path or "<model>"
            properties = ",".join(
                f"{key}={escape_property(value)}"
                for key, value in (
                    ("file", model.source.path),
                    ("line", "1"),
                    ("title", f"{finding.code} {finding.name}"),
                )
            )
            message = f"{where}: {finding.message}"
            if finding.fix:
                message += f"\nFix: {finding.fix}"
            lines.append(f"::{_COMMANDS[finding.severity]} {properties}::{escape_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")

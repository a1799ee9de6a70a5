"""Report models in a notebook: the HTML a Jupyter cell shows and the text a REPL prints.

A report, one model of it, a checkpoint comparison or a training history is drawn as the
same self-contained page the CLI writes (`audit --format html`, `audit compare`, `audit
history`), inside an `<iframe srcdoc>`: the notebook's own styles and the report's stay
apart, the page's filters work, and nothing is fetched. One model of a report is drawn as
a report of that model alone. The text is the text report, cut to a cell: at most
`TEXT_LINES` lines of at most `TEXT_WIDTH` characters (the HTML has the rest).
"""

from __future__ import annotations

import html
from typing import Any

from auditor.results.comparison import CheckpointComparison
from auditor.results.findings import ModelReport, Report
from auditor.results.history import TrainingHistory, TrainingRuns

__all__ = ["TEXT_LINES", "TEXT_WIDTH", "display", "iframe"]

#: Lines of text a REPL shows of a report, at most (then how many more there are), and
#: the characters of each.
TEXT_LINES = 24
TEXT_WIDTH = 120
#: The frame's height: a report scrolls inside it.
_HEIGHT = "640px"


def display(report: Any, kind: str) -> str:
    """`report` (a Report, ModelReport, CheckpointComparison or TrainingHistory) as
    `kind`: `html` (the page in an iframe) or `text`.

    Raises:
        TypeError: for anything else.
        ValueError: for another kind.
    """
    if kind not in ("html", "text"):
        raise ValueError(f"kind must be 'html' or 'text'. Received: {kind!r}")
    if isinstance(report, ModelReport):
        from auditor.engine.runner import build_report

        report = build_report([report], 0.0)  # one model of a report: a report of its own
    if isinstance(report, Report):
        if kind == "html":
            from auditor.cli.common import rule_infos
            from auditor.reports import RenderOptions
            from auditor.reports.html import render

            return iframe(render(report, options=RenderOptions(rules=rule_infos())))
        from auditor.reports.text import render as text

        return _cut(text(report))
    if isinstance(report, CheckpointComparison):
        from auditor.reports.compare import render as compare

        page = compare(report, kind)
    elif isinstance(report, TrainingHistory):
        from auditor.reports.history import render as history

        page = history(report, kind)
    elif isinstance(report, TrainingRuns):
        from auditor.reports.history_runs import render_runs

        page = render_runs(report, kind)
    else:
        raise TypeError(
            "expected a Report, ModelReport, CheckpointComparison, TrainingHistory or "
            "TrainingRuns. "
            f"Received: {type(report).__name__}"
        )
    return iframe(page) if kind == "html" else _cut(page)


def iframe(page: str) -> str:
    """A self-contained HTML page as a notebook cell's output: an iframe holding it."""
    return (
        f'<iframe srcdoc="{html.escape(page, quote=True)}" '
        f'style="width: 100%; height: {_HEIGHT}; border: 1px solid #e5e7eb" '
        'sandbox="allow-scripts"></iframe>'
    )


def _cut(text: str) -> str:
    lines = [
        line if len(line) <= TEXT_WIDTH else line[: TEXT_WIDTH - 1] + "…"
        for line in text.rstrip("\n").splitlines()
    ]
    if len(lines) <= TEXT_LINES:
        return "\n".join(lines)
    more = len(lines) - TEXT_LINES + 1
    return "\n".join([*lines[: TEXT_LINES - 1], f"... {more} more lines"])

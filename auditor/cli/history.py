"""`audit history HISTORY.json [MORE.json ...]`: a training history written by
`auditor.keras.RegularizationMonitor`, as text, JSON or HTML; several are overlaid, each
under a label taken from its file name.

A history file is validated JSON, read under the same caps as a model's documents; nothing
imports tensorflow or keras. Exit codes: 0, or 2 for bad arguments or an unreadable file.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.cli.common import EXIT_CLEAN, usage, view_parser, write
from auditor.text import display_path

__all__ = ["history_command"]


def history_command(argv: Sequence[str]) -> int:
    from auditor.errors import UsageError
    from auditor.reports.history import FORMATS, render
    from auditor.training.history import read_history

    parser = view_parser(
        "audit history",
        "Show a history written by auditor.keras.RegularizationMonitor: data loss against "
        "the regularization penalty, and weight norms per group, epoch by epoch. Several "
        "histories are overlaid (a run with L2 against one without).",
        FORMATS,
    )
    parser.add_argument(
        "history",
        metavar="HISTORY",
        nargs="+",
        help="the monitor's JSON history file (a path or a URL); several to compare runs",
    )
    args = parser.parse_args(argv)
    try:
        histories = [read_history(path) for path in args.history]
    except UsageError as exc:
        usage(str(exc))
    if len(histories) == 1:
        write(render(histories[0], args.format), args.output)
        return EXIT_CLEAN
    from auditor.reports.history_runs import render_runs
    from auditor.results.history import TrainingRun, TrainingRuns

    runs = [
        TrainingRun(label=label, history=history)
        for label, history in zip(run_labels(args.history), histories, strict=True)
    ]
    write(render_runs(TrainingRuns(runs=runs), args.format), args.output)
    return EXIT_CLEAN


def run_labels(paths: Sequence[str]) -> list[str]:
    """A short label per history file: its name without `.json`, with as many parent
    folders as it takes to tell them apart (`runs/l2/history.json` and
    `runs/none/history.json`: `l2/history`, `none/history`), numbered when even the full
    paths repeat."""
    parts = [display_path(path).rstrip("/").removesuffix(".json").split("/") for path in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{label} #{index}" for index, label in enumerate(labels, 1)]

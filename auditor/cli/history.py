"""`audit history HISTORY.json`: a training history written by
`auditor.keras.RegularizationMonitor`, as text, JSON or HTML.

A history file is validated JSON, read under the same caps as a model's documents; nothing
imports tensorflow or keras. Exit codes: 0, or 2 for bad arguments or an unreadable file.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.cli.common import EXIT_CLEAN, usage, view_parser, write

__all__ = ["history_command"]


def history_command(argv: Sequence[str]) -> int:
    from auditor.errors import UsageError
    from auditor.reports.history import FORMATS, render
    from auditor.training.history import read_history

    parser = view_parser(
        "audit history",
        "Show a history written by auditor.keras.RegularizationMonitor: data loss against "
        "the regularization penalty, and weight norms per group, epoch by epoch.",
        FORMATS,
    )
    parser.add_argument(
        "history", metavar="HISTORY", help="the monitor's JSON history file (a path or a URL)"
    )
    args = parser.parse_args(argv)
    try:
        history = read_history(args.history)
    except UsageError as exc:
        usage(str(exc))
    write(render(history, args.format), args.output)
    return EXIT_CLEAN

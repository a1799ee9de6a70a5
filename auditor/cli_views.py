"""`audit history HISTORY.json` and `audit compare A B`: the training views.

Neither imports tensorflow or keras: a history file is validated JSON, and checkpoints are
read by the static loaders. Exit codes: 0, or 1 for `compare --fail-on-reset` when a layer
of B is back at its initialization; 2 for bad arguments or unreadable input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from auditor.cli_common import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, Parser, usage, write

__all__ = ["compare_command", "history_command"]

_VIEW_FORMATS = ("text", "json", "html")


def _parser(prog: str, description: str) -> Parser:
    parser = Parser(prog=prog, description=description)
    parser.add_argument("--format", choices=_VIEW_FORMATS, default="text")
    parser.add_argument("-o", "--output", metavar="FILE", help="write there instead of stdout")
    return parser


def history_command(argv: Sequence[str]) -> int:
    from auditor.errors import UsageError
    from auditor.history import read_history
    from auditor.reports.history import render

    parser = _parser(
        "audit history",
        "Show a history written by auditor.keras.RegularizationMonitor: data loss against "
        "the regularization penalty, and weight norms per group, epoch by epoch.",
    )
    parser.add_argument("history", metavar="HISTORY", help="the monitor's JSON history file")
    args = parser.parse_args(argv)
    try:
        history = read_history(args.history)
    except UsageError as exc:
        usage(str(exc))
    write(render(history, args.format), args.output)
    return EXIT_CLEAN


def compare_command(argv: Sequence[str]) -> int:
    from auditor.compare import compare
    from auditor.errors import UsageError
    from auditor.loaders.guard import disable_hdf5_plugins
    from auditor.reports.compare import render

    parser = _parser(
        "audit compare",
        "Compare two checkpoints of the same model layer by layer: norm change, share of "
        "values changed, layers unchanged (frozen or never trained) and layers reset to "
        "their initialization. Both files are read statically.",
    )
    parser.add_argument("a", metavar="A", help="the earlier checkpoint (.keras or .h5)")
    parser.add_argument("b", metavar="B", help="the later checkpoint (.keras or .h5)")
    parser.add_argument(
        "--fail-on-reset",
        action="store_true",
        help="exit 1 when a layer of B is back at its initialization",
    )
    args = parser.parse_args(argv)
    disable_hdf5_plugins()
    try:
        comparison = compare(args.a, args.b)
    except UsageError as exc:
        sys.stderr.write(f"audit compare: error: {exc}\n")
        return EXIT_USAGE
    write(render(comparison, args.format), args.output)
    if args.fail_on_reset and comparison.reset_layers():
        return EXIT_FINDINGS
    return EXIT_CLEAN

"""`audit compare A B`: how checkpoint B differs from checkpoint A, layer by layer.

Both files are read by the static loaders; nothing imports tensorflow or keras. Exit
codes: 0, or 1 with `--fail-on-reset` when a layer of B is back at its initialization; 2
for bad arguments or unreadable input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from auditor.cli.common import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, view_parser, write

__all__ = ["compare_command"]


def compare_command(argv: Sequence[str]) -> int:
    from auditor.errors import UsageError
    from auditor.loaders.safe_hdf5 import disable_hdf5_plugins
    from auditor.reports.compare import FORMATS, render
    from auditor.training.compare import compare

    parser = view_parser(
        "audit compare",
        "Compare two checkpoints of the same model layer by layer: norm change, share of "
        "values changed, layers unchanged (frozen or never trained) and layers reset to "
        "their initialization. Both files are read statically.",
        FORMATS,
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

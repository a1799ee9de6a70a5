"""The command line: `audit [check] PATH...` and its subcommands, one module each.

`check` audits files (the default command), `fix` rewrites a file's regularization config,
`catalog` lists the rules and prints their docs and the report's schema, `history` and
`compare` show the training views. This package is the only place that prints or exits.

Exit codes: 0 nothing at or above `--fail-on`; 1 findings at or above it (AUD001 counts);
2 usage errors, unreadable configuration or baseline, or no model file matched.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from auditor import __version__
from auditor.cli import startup
from auditor.cli.common import EXIT_CLEAN

__all__ = ["SUBCOMMANDS", "entry", "main"]

#: Each subcommand and its `module:function(argv) -> int`, imported when it is run.
SUBCOMMANDS = {
    "check": "auditor.cli.check:check_command",
    "fix": "auditor.cli.fix:fix_command",
    "rules": "auditor.cli.catalog:rules_command",
    "rule": "auditor.cli.catalog:rule_command",
    "schema": "auditor.cli.catalog:schema_command",
    "history": "auditor.cli.history:history_command",
    "compare": "auditor.cli.compare:compare_command",
}


def main(argv: Sequence[str] | None = None) -> int:
    """The command line as a function: parse `argv`, run, return the exit code (the
    console scripts call `entry`, which exits the process fast afterwards)."""
    startup.quiet_environment()
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        sys.stdout.write(f"keras-audit {__version__}\n")
        return EXIT_CLEAN
    name, rest = (args[0], args[1:]) if args and args[0] in SUBCOMMANDS else ("check", args)
    if name != "check":
        startup.end_of_startup()  # only a check defers collection past its imports
    module, _, function = SUBCOMMANDS[name].partition(":")
    try:
        run = getattr(importlib.import_module(module), function)
        return run(rest)
    except KeyboardInterrupt:
        sys.stderr.write("audit: interrupted\n")
        return 130


def entry() -> NoReturn:
    """The console scripts and `python -m auditor`: `main()`, then a fast exit, with
    garbage collection off until the command's imports are done (`auditor.cli.startup`)."""
    startup.defer_collection()
    startup.leave(main())

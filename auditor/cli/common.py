"""What the `audit` subcommands share: exit codes, the one-line usage error, output, colour,
and the rules as the renderers describe them."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

if TYPE_CHECKING:
    from auditor.engine.registry import Registry
    from auditor.reports import RuleInfo

__all__ = [
    "EXIT_CLEAN",
    "EXIT_FINDINGS",
    "EXIT_USAGE",
    "Parser",
    "codes",
    "mode",
    "rule_infos",
    "usage",
    "use_color",
    "view_parser",
    "write",
]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def view_parser(prog: str, description: str, formats: Sequence[str]) -> Parser:
    """The parser of a training view (`audit history`, `audit compare`): the formats its
    renderer offers, and an output file."""
    parser = Parser(prog=prog, description=description)
    parser.add_argument("--format", choices=formats, default="text")
    parser.add_argument("-o", "--output", metavar="FILE", help="write there instead of stdout")
    return parser


def usage(message: str) -> NoReturn:
    """Print `audit: error: MESSAGE` and exit 2."""
    sys.stderr.write(f"audit: error: {message}\n")
    raise SystemExit(EXIT_USAGE)


def write(text: str | Iterable[str], output: str | None) -> None:
    """Write a text, or a text in pieces, to stdout or to a file (parents must exist).

    When stdout's reader goes away (`audit models/ | head -1`), the rest of the text is
    dropped and the run goes on (a baseline to write, the exit code) with stdout sent to
    the null device, as Python's documentation advises for SIGPIPE.
    """
    chunks = [text] if isinstance(text, str) else text
    if output is None:
        try:
            sys.stdout.writelines(chunks)
        except BrokenPipeError:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, sys.stdout.fileno())
            os.close(null)
        return
    try:
        with Path(output).open("w", encoding="utf-8") as stream:
            stream.writelines(chunks)
    except OSError as exc:
        usage(f"cannot write the report. Received: --output {output!r} ({exc.strerror})")


def codes(value: str) -> list[str]:
    """A comma-separated option value as a list (`REG004, WD` -> `["REG004", "WD"]`)."""
    return [part.strip() for part in value.split(",") if part.strip()]


def use_color(choice: str, stream: TextIO) -> bool:
    """`--color auto|always|never`, with NO_COLOR and FORCE_COLOR honoured for `auto`."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def mode(requires: frozenset[str]) -> str:
    """What a rule judges: `live` models only, files with their weights (`file+w`), or
    files from their config alone (`file`)."""
    if "live" in requires:
        return "live"
    return "file+w" if "weights" in requires else "file"


def formats(requires: frozenset[str]) -> str:
    """The source formats a rule judges, for people: `all`, or their names."""
    from auditor.graph.model import ALL_FORMATS, source_formats

    found = source_formats(requires)
    return "all" if found == ALL_FORMATS else ",".join(found)


def rule_infos(registry: Registry | None = None) -> dict[str, RuleInfo]:
    """Every registered rule's metadata, for the renderers."""
    from auditor.engine.registry import load_registry
    from auditor.reports import RuleInfo

    return {
        rule.code: RuleInfo(
            code=rule.code,
            name=rule.name,
            severity=rule.severity.value,
            summary=rule.summary(),
            docs=rule.docs(),
            mode=mode(rule.requires),
            formats=formats(rule.requires),
        )
        for rule in (registry or load_registry()).rules
    }

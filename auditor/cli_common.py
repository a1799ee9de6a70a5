"""What every `audit` subcommand shares: exit codes, the one-line usage error, output."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_USAGE", "Parser", "usage", "write"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


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

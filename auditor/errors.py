"""Exceptions that cross module boundaries."""

from __future__ import annotations

__all__ = ["FixError", "ModelLoadError", "UsageError", "first_line"]


class ModelLoadError(Exception):
    """A model file could not be read. The message is one sentence naming the problem.

    The engine turns it into an AUD001 finding; the run goes on with the other files.

    Attributes:
        kind: str, an `auditor.graph.model.IssueKind` value.
    """

    def __init__(self, message: str, kind: str = "unreadable") -> None:
        super().__init__(message)
        self.kind = kind


class UsageError(ValueError):
    """Bad arguments or configuration: the CLI prints the message and exits 2."""


class FixError(Exception):
    """A model file could not be fixed (unreadable, unsafe, or the rewrite did not take).
    The message is one sentence naming the file and the problem."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line reports."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

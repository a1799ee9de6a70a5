"""Model files opened for an audit, as hostile input: each judged within the per-file
time limit, a reference model opened once for the run, and the report of a file that
could not be audited (AUD001).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from auditor.engine.config import AuditConfig
from auditor.engine.judge import PreparedRules, audit_graph
from auditor.errors import UsageError
from auditor.graph.model import IssueKind, LoadIssue, ModelGraph, SourceInfo
from auditor.limits import Limits
from auditor.loaders import format_from_suffix, open_model, preload
from auditor.loaders.loaded import LoadedModel
from auditor.numbers import number
from auditor.results.findings import ModelReport
from auditor.text import display_path, is_url

__all__ = [
    "FileTimeout",
    "audit_file",
    "is_file_reference",
    "open_readable",
    "open_reference",
    "over_time",
    "unreadable_report",
]


def is_file_reference(reference: Any) -> bool:
    """True for no reference or a file's path (a child process can open it itself), False
    for a live model."""
    return reference is None or isinstance(reference, str | os.PathLike)


class FileTimeout(BaseException):
    """A file took longer than the per-file time limit.

    A BaseException, as KeyboardInterrupt is: it may fire anywhere, in a loader or in a
    rule, and no `except Exception` on its way may take it for that code's own failure.
    """


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise FileTimeout in this thread after `seconds` (main thread, POSIX only; elsewhere
    no limit). Reading is chunked, so Python regains control often enough to stop."""
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    assert seconds is not None

    def expire(signum: int, frame: Any) -> None:
        raise FileTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def audit_file(
    path: str,
    prepared: PreparedRules,
    config: AuditConfig,
    debug: bool,
    reference: ModelGraph | None,
    on_report: Callable[[ModelReport], None] | None = None,
) -> ModelReport:
    """One file, within the time limit (past it: an unreadable-model report).

    Args:
        on_report: called with the report before the file is closed (the isolated child
            sends it then: closing an HDF5 file of a thousand tensors takes 30-50 ms).
    """
    try:
        _preload()
        before = _io_counters()
        with (
            _time_limit(config.timeout),
            open_model(
                path,
                config.limits,
                digest=config.digest,
                tensors=prepared.reads_tensors(config),
            ) as loaded,
        ):
            report = audit_graph(
                loaded.graph,
                prepared,
                config,
                debug=debug,
                sha256=loaded.sha256,
                reference=reference,
            )
            report = _with_reads(report, loaded, before, remote=is_url(path))
            if on_report is not None:
                on_report(report)
            return report
    except FileTimeout:
        return unreadable_report(path, over_time(config), prepared, config)


def _preload() -> None:
    """Load now what the first audit in a process would load lazily (the front-ends, the
    Keras name catalog, NumPy's masked arrays, zipfile's name codec), so that what an
    audit reads counts the model's bytes and not keras-audit's own files."""
    import codecs

    import numpy.ma  # noqa: F401  (NumPy imports it lazily inside some reductions)

    from auditor.rules._references import catalog

    preload()
    catalog()
    codecs.lookup("cp437")


def _io_counters() -> tuple[int, int] | None:
    """This process's bytes returned by read calls and the count of those calls
    (`rchar`, `syscr` of /proc/self/io), or None where there is no such file."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    try:
        return int(fields["rchar"]), int(fields["syscr"])
    except (KeyError, ValueError):
        return None


def _with_reads(
    report: ModelReport, loaded: LoadedModel, before: tuple[int, int] | None, *, remote: bool
) -> ModelReport:
    """The report with what the audit read: the range requests of a remote object, or
    the read calls of this process while it audited a local file (each file is audited
    alone in its process)."""
    if loaded.io is not None:
        counted: tuple[int, int] | None = (loaded.io.bytes_fetched, loaded.io.requests)
    elif remote:
        counted = None  # the object could not be opened: nothing of it was counted
    else:
        after = _io_counters()
        counted = (after[0] - before[0], after[1] - before[1]) if after and before else None
    if counted is None:
        return report
    summary = report.summary.model_copy(update={"bytes_read": counted[0], "requests": counted[1]})
    return report.model_copy(update={"summary": summary})


def over_time(config: AuditConfig) -> str:
    """Why a file past the per-file time limit has no audit."""
    return (
        f"auditing the file took longer than the per-file time limit of "
        f"{number(config.timeout)} s (timeout setting)"
    )


def unreadable_report(
    path: str, message: str, prepared: PreparedRules, config: AuditConfig
) -> ModelReport:
    """The report of a file that could not be audited: one fatal issue (AUD001)."""
    issue = LoadIssue(IssueKind.UNREADABLE, message, fatal=True)
    source = SourceInfo(path=path, format=format_from_suffix(path))
    return audit_graph(ModelGraph.unreadable(source, issue), prepared, config)


@contextmanager
def open_reference(reference: Any, config: AuditConfig) -> Iterator[ModelGraph | None]:
    """The reference model's graph (a file, kept open for the run, or a live model)."""
    if reference is None:
        yield None
        return
    if not isinstance(reference, str | os.PathLike):
        from auditor.loaders.live import load_live

        yield load_live(reference).graph
        return
    with open_readable(reference, config.limits, "the reference model", "reference=") as graph:
        yield graph


@contextmanager
def open_readable(
    path: str | os.PathLike[str], limits: Limits | None, what: str, received: str = ""
) -> Iterator[ModelGraph]:
    """A model file that must be readable (a reference, a checkpoint), open for the block.

    Raises:
        UsageError: `"{what} cannot be read: <reason>. Received: {received}'path'"`.
    """
    with open_model(path, limits, digest=False) as loaded:
        fatal = next((issue for issue in loaded.graph.issues if issue.fatal), None)
        if fatal is not None:
            raise UsageError(
                f"{what} cannot be read: {fatal.message}. "
                f"Received: {received}{display_path(path)!r}"
            )
        yield loaded.graph

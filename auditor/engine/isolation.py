"""A hostile file cannot stall or crash a run: each file is audited in a child process
that can be killed, or with `--jobs N` in a pool of worker processes.

A file can hang or crash the HDF5 C library where no Python-level time limit reaches. The
child is then killed and replaced, and the file becomes an AUD001 finding; the run goes on
with the next file.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import closing, suppress
from typing import Any

from auditor.engine.config import AuditConfig
from auditor.engine.file_audit import (
    audit_file,
    is_file_reference,
    open_reference,
    over_time,
    unreadable_report,
)
from auditor.engine.judge import PreparedRules, prepare
from auditor.engine.registry import Registry
from auditor.engine.window import in_order
from auditor.errors import UsageError
from auditor.results.findings import ModelReport

__all__ = ["Isolated", "isolating", "run_parallel"]


def isolating(config: AuditConfig, debug: bool, reference: Any) -> bool:
    """Each file in a child process that can be killed: with a time limit, where fork
    exists, not under --debug (which wants exceptions in this process), and with a file
    (or no) reference, which the child opens itself."""
    return (
        config.timeout is not None
        and not debug
        and is_file_reference(reference)
        and hasattr(os, "fork")
    )


#: How long past the time limit the parent waits for the child's answer (the child's own
#: limit fires first when it can).
_GRACE_SECONDS = 5.0

#: How long a child that was asked to finish (or whose pipe closed) may take to exit
#: before it is killed.
_EXIT_SECONDS = 2.0


def _reap(pid: int, patience: float) -> int:
    """Wait up to `patience` seconds for the child `pid` to exit, kill it if it has not,
    and return its exit code (minus the signal's number when a signal ended it)."""
    deadline = time.monotonic() + patience
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        time.sleep(0.005)


class Isolated:
    """Files audited one after another in a forked child process that can be killed.

    A hostile file can hang or crash the HDF5 C library where no Python-level time limit
    reaches. The child is then killed and replaced, and the file becomes an AUD001
    finding. The child's own time limit fires first when it can, with the same result.
    One child serves many files, so the fork costs once per run, not once per file.
    """

    def __init__(self, prepared: PreparedRules, config: AuditConfig, reference: Any) -> None:
        self.prepared, self.config, self.reference = prepared, config, reference
        self.pid: int | None = None
        self.conn: Any = None

    def _start(self) -> None:
        # A bare fork, not multiprocessing.Process: the auditing process may itself be a
        # daemonic worker (a Dask worker, by default), which multiprocessing forbids to
        # have children.
        self.conn, child_end = multiprocessing.Pipe()
        # The child inherits the parent's heap copy-on-write; a garbage collection there
        # would touch (and so copy) every inherited object. Frozen objects are skipped.
        # A caller that froze objects itself (a pre-forking server) keeps them frozen:
        # `gc.unfreeze()` would thaw them too, so its heap is left as it is.
        freeze = gc.get_freeze_count() == 0
        if freeze:
            gc.freeze()
        try:
            pid = os.fork()
            if pid == 0:  # the child: it never returns from here
                try:
                    self.conn.close()
                    _isolated_child(child_end, self.prepared, self.config, self.reference)
                finally:
                    os._exit(1)
        finally:
            if freeze:
                gc.unfreeze()
        self.pid = pid
        child_end.close()

    def _stop(self, patience: float = _EXIT_SECONDS) -> int | None:
        """Stop the child (killed unless it ends within `patience` seconds) and return
        its exit code (minus the signal's number when a signal ended it)."""
        code = None
        if self.pid is not None:
            code = _reap(self.pid, patience)
            self.conn.close()
        self.pid = self.conn = None
        return code

    def audit(self, path: str) -> ModelReport:
        """The report of one file, from the child (started on first use). A file the
        child could not audit (over the time limit, crashed, or failed) becomes an AUD001
        report, and the next file gets a new child.

        Raises:
            UsageError: what the child raised as one (a reference that cannot be read).
        """
        if self.pid is None:
            self._start()
        assert self.config.timeout is not None
        try:
            self.conn.send(path)
            if self.conn.poll(self.config.timeout + _GRACE_SECONDS):
                kind, payload = self.conn.recv()
            else:
                kind, payload = "timeout", None
        except (EOFError, OSError, BrokenPipeError):
            kind, payload = "crash", None
        if kind not in ("ok", "usage"):
            # A hung or dead child is replaced for the next file.
            exit_code = self._stop(patience=0 if kind == "timeout" else _EXIT_SECONDS)
            payload = payload or exit_code
        if kind == "ok":
            return payload
        if kind == "usage":
            raise UsageError(payload)
        return self._unreadable(path, kind, payload)

    def _unreadable(self, path: str, kind: str, payload: Any) -> ModelReport:
        if kind == "timeout":
            message = f"{over_time(self.config)}; the reader was stopped"
        elif kind == "crash":
            message = f"the reader crashed on this file (exit code {payload})"
        else:
            message = f"the audit of this file failed ({payload})"
        return unreadable_report(path, message, self.prepared, self.config)

    def close(self) -> None:
        """Ask the child to finish, then stop it: killed if it is still running, and
        joined."""
        if self.pid is not None:
            with suppress(OSError):
                self.conn.send(None)
        self._stop()


def _isolated_child(
    conn: Any, prepared: PreparedRules, config: AuditConfig, reference: Any
) -> None:
    """The child's loop: a path in, exactly one ("ok" | "usage" | "error", payload) out.

    A report leaves as soon as it is complete, before its file (and the reference) is
    closed; whatever happens after that is not reported again.
    """
    sent: list[ModelReport] = []

    def send(report: ModelReport) -> None:
        conn.send(("ok", report))
        sent.append(report)

    try:
        while (path := conn.recv()) is not None:
            sent.clear()
            try:
                with open_reference(reference, config) as base:
                    report = audit_file(path, prepared, config, False, base, on_report=send)
                if not sent:  # over the time limit before the audit ended
                    send(report)
            except UsageError as exc:
                if not sent:
                    conn.send(("usage", str(exc)))
            except Exception as exc:
                if not sent:
                    conn.send(("error", f"{type(exc).__name__}: {exc}"))
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    finally:
        conn.close()
        os._exit(0)  # no atexit handlers, no flushing of the parent's buffers


#: A `--jobs` worker's state, set once by `_start_worker`.
_WORKER: dict[str, Any] = {}


def _start_worker(
    config: AuditConfig, registry: Registry, debug: bool, reference: str | None
) -> None:
    _WORKER.update(
        prepared=prepare(config, registry), config=config, debug=debug, reference=reference
    )


def _worker_audit(path: str) -> ModelReport:
    state = _WORKER
    config, reference = state["config"], state["reference"]
    if isolating(config, state["debug"], reference):
        if "isolated" not in state:
            state["isolated"] = Isolated(state["prepared"], config, reference)
        return state["isolated"].audit(path)
    with open_reference(reference, config) as base:
        return audit_file(path, state["prepared"], config, state["debug"], base)


def run_parallel(
    files: list[str],
    config: AuditConfig,
    registry: Registry,
    debug: bool,
    reference: str | os.PathLike[str] | None,
) -> Iterator[ModelReport]:
    """Audit files in `config.jobs` processes; results in input order, as they finish,
    with a few files per process in flight (the parent's memory stays flat)."""
    from concurrent.futures import ProcessPoolExecutor  # only --jobs N needs it

    context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    ref = os.fspath(reference) if reference is not None else None
    workers = min(config.jobs, len(files))
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(config, registry, debug, ref),
    ) as pool:

        def submit(index: int, path: str) -> Any:
            return pool.submit(_worker_audit, path)

        with closing(in_order(files, submit, _PER_WORKER * workers)) as submitted:
            for _, future in submitted:
                yield future.result()


#: Files in flight per `--jobs` process.
_PER_WORKER = 4

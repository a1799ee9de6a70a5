"""Plugin rules that misbehave on models whose path names them, for the tests of what a
run does about a file it cannot finish: in a module of its own so that Dask workers,
which receive rules by reference, can import them."""

from __future__ import annotations

import os
import signal
import time
from typing import ClassVar

from auditor.results.findings import Severity
from auditor.rules.base import Rule
from tests.harness import DOC


class KillsItsProcess(Rule):
    """Kills the process auditing a model whose path contains "poison" (as a file that
    crashes the HDF5 library would)."""

    __doc__ = DOC
    code: ClassVar[str] = "XYZ200"
    name: ClassVar[str] = "kills-its-process"
    severity: ClassVar[Severity] = Severity.INFO

    def check_model(self, model, ctx):
        if "poison" in model.source.path:
            os.kill(os.getpid(), signal.SIGKILL)
        return
        yield  # pragma: no cover


class Hangs(Rule):
    """Hangs where no Python-level time limit reaches (SIGALRM blocked, as in C code) on
    a model whose path contains "hang"."""

    __doc__ = DOC
    code: ClassVar[str] = "XYZ201"
    name: ClassVar[str] = "hangs"
    severity: ClassVar[Severity] = Severity.INFO

    def check_model(self, model, ctx):
        if "hang" in model.source.path:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(600)
        return
        yield  # pragma: no cover

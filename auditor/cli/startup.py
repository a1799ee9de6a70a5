"""Start-up tuning of the console scripts, in one place.

A pre-commit run over one small model is mostly start-up, so the console scripts (`entry`)
pay only for what a command uses: garbage collection waits until the command's imports are
done, NumPy's BLAS and pydantic's plug-in scan are left idle, and the process leaves
without tearing the interpreter down. Callers of `auditor.cli.main` (tests, scripts) keep
their own collector settings.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import NoReturn

from auditor.cli.common import EXIT_FINDINGS

__all__ = ["defer_collection", "end_of_startup", "leave", "quiet_environment"]

_collection_deferred = False


def quiet_environment() -> None:
    """Environment defaults that keep work off the start-up path (a caller's own settings
    win): pydantic scans every installed distribution for plug-ins on first use (tens of
    ms in a big environment), and the CLI's models are internal; NumPy's OpenBLAS starts a
    thread per core at import (tens of ms of CPU), and the statistics are reductions and
    small products, which one thread does as fast."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def defer_collection() -> None:
    """Garbage collection off until `end_of_startup`: importing numpy, h5py, pydantic and
    the rules allocates objects that live until the process exits, and collecting during
    the imports would only walk them again and again (about 10 ms of a small model's run)."""
    global _collection_deferred
    gc.disable()
    _collection_deferred = True


def end_of_startup() -> None:
    """Garbage collection back on, once a command's imports are done (only where
    `defer_collection` turned it off). Frozen, the start-up's objects stay out of every
    later collection; files are read with collection on, so cyclic garbage from one model
    does not outlive it."""
    global _collection_deferred
    if _collection_deferred:
        _collection_deferred = False
        gc.freeze()
        gc.enable()


def leave(code: int) -> NoReturn:
    """Flush the streams and logging, then exit fast with `code`.

    Tearing down an interpreter that has numpy, h5py and pydantic loaded takes tens of
    milliseconds. By the time a command returns, every report is written, every model
    file closed and the isolated child joined, so nothing is left to tear down.
    """
    try:
        if "logging" in sys.modules:
            sys.modules["logging"].shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # `audit ... | head`: the reader went away
        code = code or EXIT_FINDINGS
    os._exit(code)

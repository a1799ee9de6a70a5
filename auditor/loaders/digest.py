"""SHA-256 of a model file, computed on a thread while the file is being audited.

SARIF artifacts and baselines need the file's hash, which means reading every byte once
more. `hashlib` releases the GIL on large updates, so on a multi-core machine the hash
costs no wall time when it runs beside the tensor reads. It reads a duplicate of the
descriptor being parsed with `os.pread`, so it hashes exactly that file and never moves the
parser's position.
"""

from __future__ import annotations

import hashlib
import os
import threading

__all__ = ["FileDigest"]

_BLOCK = 4 * 1024 * 1024


class FileDigest:
    """Start hashing an open file descriptor now; `result()` waits for the hex digest."""

    def __init__(self, fd: int) -> None:
        self._fd = os.dup(fd)
        self._hex: str | None = None
        self._thread = threading.Thread(target=self._run, name="keras-audit-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        digest = hashlib.sha256()
        offset = 0
        try:
            while block := os.pread(self._fd, _BLOCK, offset):
                digest.update(block)
                offset += len(block)
            self._hex = digest.hexdigest()
        except OSError:
            self._hex = None  # the audit reports read errors; the hash is just absent
        finally:
            os.close(self._fd)

    def result(self) -> str | None:
        """The SHA-256 hex digest, or None when the file could not be read to the end."""
        self._thread.join()
        return self._hex

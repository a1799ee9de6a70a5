"""Front-ends: each source kind becomes the same `ModelGraph`.

`open_model(path)` sniffs the file (never trusting its suffix alone) and dispatches to the
`.keras` or legacy `.h5` loader. Static loading imports neither tensorflow nor keras, and
treats every file as hostile: everything a loader reads goes through `safe_zip`,
`safe_json` and `safe_hdf5`, and nothing in a file is executed, imported, unpickled or
unmarshalled. `live` reads a `keras.Model` in memory, and is the one loader that imports
keras.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from auditor.errors import ModelLoadError, first_line
from auditor.graph.model import IssueKind, LoadIssue, ModelGraph, SourceInfo
from auditor.limits import Limits
from auditor.loaders.digest import FileDigest
from auditor.loaders.loaded import LoadedModel
from auditor.text import display_path

__all__ = ["MODEL_SUFFIXES", "LoadedModel", "format_from_suffix", "open_model"]

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_HDF5_OFFSETS = (0, 512, 1024, 2048)
_SNIFF_BYTES = _HDF5_OFFSETS[-1] + 8


def open_model(
    path: str | os.PathLike[str], limits: Limits | None = None, *, digest: bool = True
) -> LoadedModel:
    """Open a model file for auditing. Never raises for a bad file.

    A file that cannot be read becomes a graph with one fatal `LoadIssue`, which the
    engine reports as AUD001; the caller goes on with its other files.

    Args:
        path: str | PathLike, a `.keras` archive or a legacy `.h5`/`.hdf5` file.
        limits: Limits | None, the caps applied while reading (defaults when None).
        digest: bool, hash the file with SHA-256 on a thread meanwhile
            (`LoadedModel.sha256()`; None without it).

    Returns:
        LoadedModel, to be closed when the audit of this file is done.
    """
    limits = limits or Limits()
    text = os.fspath(path)
    source = SourceInfo(path=text, format=format_from_suffix(text))
    try:
        return _open(Path(text), source, limits, digest)
    except ModelLoadError as exc:
        issue = LoadIssue(IssueKind(exc.kind), str(exc), fatal=True)
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        # Corruption the loaders did not foresee (libhdf5 and zipfile raise these from deep
        # inside): still one clear sentence, never a traceback.
        issue = LoadIssue(
            IssueKind.UNREADABLE,
            f"the file is corrupt ({type(exc).__name__}: {first_line(exc)})",
            fatal=True,
        )
    return LoadedModel(ModelGraph.unreadable(source, issue))


def format_from_suffix(path: str) -> str:
    """`keras`, `h5` or `unknown`, from the file name alone (reports name the format)."""
    lowered = path.lower()
    if lowered.endswith(".keras"):
        return "keras"
    if lowered.endswith((".h5", ".hdf5")):
        return "h5"
    return "unknown"


def _open(path: Path, source: SourceInfo, limits: Limits, digest: bool) -> LoadedModel:
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ModelLoadError(f"no such file: {display_path(path)}") from None
    except OSError as exc:
        raise ModelLoadError(f"cannot stat the file ({exc.strerror or exc})") from None
    if path.is_dir():
        raise ModelLoadError(
            "is a directory, not a model file (unzipped .keras folders are not supported)"
        )
    if stat.st_size > limits.max_file_bytes:
        raise ModelLoadError(
            f"file is {stat.st_size:,} bytes, over the {limits.max_file_bytes:,}-byte cap",
            IssueKind.OVER_LIMIT,
        )
    if stat.st_size == 0:
        raise ModelLoadError("file is empty")
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ModelLoadError(f"cannot open the file ({exc.strerror or exc})") from None
    try:
        head = raw.read(_SNIFF_BYTES)
        raw.seek(0)
    except OSError as exc:
        raw.close()
        raise ModelLoadError(f"cannot read the file ({exc.strerror or exc})") from None
    source = SourceInfo(path=source.path, format=source.format, size_bytes=stat.st_size)
    hashing = FileDigest(raw.fileno()) if digest else None
    if head[:4] in _ZIP_MAGIC:
        from auditor.loaders.keras_v3 import load_keras

        loaded = _own_raw(lambda: load_keras(raw, source, limits), raw)
    else:
        raw.close()
        if not _is_hdf5(head):
            if hashing is not None:
                hashing.result()
            if source.format == "keras":
                raise ModelLoadError("not a zip archive, so not a .keras file")
            raise ModelLoadError("not a Keras model file (neither a .keras zip nor an HDF5 file)")
        from auditor.loaders.legacy_h5 import load_legacy_h5

        loaded = load_legacy_h5(str(path), source, limits)
    loaded.digest = hashing
    return loaded


def _own_raw(load: Callable[[], LoadedModel], raw: BinaryIO) -> LoadedModel:
    """Run a loader over an open file; the loaded model closes the file last."""
    try:
        loaded = load()
    except BaseException:
        raw.close()
        raise
    loaded.push_close(raw.close)
    return loaded


def _is_hdf5(head: bytes) -> bool:
    """True when an HDF5 superblock signature sits at one of its allowed offsets."""
    return any(head[offset : offset + 8] == _HDF5_MAGIC for offset in _HDF5_OFFSETS)

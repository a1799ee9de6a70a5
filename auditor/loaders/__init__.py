"""Front-ends: each source kind becomes the same `ModelGraph`.

`open_model(path)` tells what the file is as Keras's loaders would (`sniff`: a zip
archive, an HDF5 file, or both) and dispatches to the `.keras` or legacy `.h5` loader; a
file that is both is audited as the half Keras loads for its name, and the other half is
searched for payloads too. Static loading imports neither tensorflow nor keras, and
treats every file as hostile: everything a loader reads goes through `safe_zip`,
`safe_json` and `safe_hdf5`, and nothing in a file is executed, imported, unpickled or
unmarshalled. `live` reads a `keras.Model` in memory, and is the one loader that imports
keras.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from auditor.errors import ModelLoadError, first_line
from auditor.graph.model import IssueKind, LoadIssue, ModelGraph, SourceInfo
from auditor.limits import Limits
from auditor.loaders.digest import FileDigest
from auditor.loaders.loaded import LoadedModel
from auditor.loaders.range_file import Transfer
from auditor.loaders.safe_folder import ModelFolder, is_model_folder, is_saved_model
from auditor.loaders.sniff import Half, Layout, sniff
from auditor.text import display_path, is_url

__all__ = [
    "MODEL_SUFFIXES",
    "LoadedModel",
    "format_from_suffix",
    "is_model_folder",
    "is_saved_model",
    "open_model",
    "preload",
]

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".weights.json")


def open_model(
    path: str | os.PathLike[str],
    limits: Limits | None = None,
    *,
    digest: bool = True,
    tensors: bool = True,
) -> LoadedModel:
    """Open a model file for auditing. Never raises for a bad file.

    A file that cannot be read becomes a graph with one fatal `LoadIssue`, which the
    engine reports as AUD001; the caller goes on with its other files.

    Args:
        path: str | PathLike, a `.keras` archive or a legacy `.h5`/`.hdf5` file.
        limits: Limits | None, the caps applied while reading (defaults when None).
        digest: bool, hash the file with SHA-256 on a thread meanwhile
            (`LoadedModel.sha256()`; None without it).
        tensors: bool, the tensors will be read too. A model at a URL then fetches its
            metadata in fewer, larger ranges (see `range_file.Transfer`).

    Returns:
        LoadedModel, to be closed when the audit of this file is done.
    """
    limits = limits or Limits()
    text = os.fspath(path)
    source = SourceInfo(path=text, format=format_from_suffix(text))
    try:
        if is_url(text):
            return _open_url(text, source, limits, Transfer(tensors))
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


def preload() -> None:
    """Import every front-end now: the loaders import them on first use, and a process
    that measures what an audit reads (`engine.file_audit`) must not count the reading of
    their code as reading the model."""
    import importlib

    for name in _FRONT_ENDS:
        importlib.import_module(f"auditor.loaders.{name}")


_FRONT_ENDS = (
    "keras_v3",
    "legacy_h5",
    "weights_file",
    "sharded",
    "saved_model",
    "preset",
    "remote",
    "remote_folder",
)


def format_from_suffix(path: str) -> str:
    """`keras`, `h5` or `unknown`, from the file name alone (reports name the format)."""
    lowered = path.lower()
    if lowered.endswith(".keras"):
        return "keras"
    if lowered.endswith((".weights.h5", ".weights.json")):
        return "weights"
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
        from auditor.loaders.safe_folder import SafeFolder

        # Decided before listing: a weights file that is a link still makes a model
        # folder (the link is reported, never followed).
        keras = is_model_folder(path)
        if keras or is_saved_model(path):
            return _load_folder(SafeFolder(path, limits), keras, source, limits)
        raise ModelLoadError(_NOT_A_MODEL_FOLDER)
    _check_size(stat.st_size, limits)
    if path.name.lower().endswith(".weights.json"):
        from auditor.loaders.sharded import load_sharded

        return load_sharded(path, dataclasses.replace(source, size_bytes=stat.st_size), limits)
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ModelLoadError(f"cannot open the file ({exc.strerror or exc})") from None
    try:
        layout = sniff(raw, stat.st_size)
    except OSError as exc:
        raw.close()
        raise ModelLoadError(f"cannot read the file ({exc.strerror or exc})") from None
    source = SourceInfo(path=source.path, format=source.format, size_bytes=stat.st_size)
    hashing = FileDigest(raw.fileno()) if digest else None
    try:
        half = _half(layout, source)
    except ModelLoadError:
        raw.close()
        if hashing is not None:
            hashing.result()
        raise
    loaded = _load_layout(half, layout, raw, str(path), source, limits)
    loaded.digest = hashing
    return loaded


def _check_size(size: int, limits: Limits) -> None:
    if size > limits.max_file_bytes:
        raise ModelLoadError(
            f"file is {size:,} bytes, over the {limits.max_file_bytes:,}-byte cap",
            IssueKind.OVER_LIMIT,
        )
    if size == 0:
        raise ModelLoadError("file is empty")


def _half(layout: Layout, source: SourceInfo) -> Half:
    """The half of the file Keras loads for its name.

    Raises:
        ModelLoadError: when it has none (neither a zip archive nor an HDF5 file).
    """
    half = layout.loaded_by_keras(source.format)
    if half is not None:
        return half
    if source.format == "keras":
        raise ModelLoadError("not a zip archive, so not a .keras file")
    raise ModelLoadError("not a Keras model file (neither a .keras zip nor an HDF5 file)")


def _load_layout(
    half: Half,
    layout: Layout,
    raw: BinaryIO,
    hdf5: str | BinaryIO,
    source: SourceInfo,
    limits: Limits,
) -> LoadedModel:
    """Load the half Keras loads, and search the other half of a polyglot file too.
    `hdf5` is how libhdf5 opens the file: by its path, or (a remote object) `raw`."""
    other = _other_half(half, layout, raw, hdf5, source, limits) if layout.both else None
    loaded = _load(half, raw, hdf5, source, limits)
    if other is not None:
        documents, issue = other
        graph = loaded.graph
        loaded.graph = dataclasses.replace(
            graph, documents=graph.documents + documents, issues=(*graph.issues, issue)
        )
    return loaded


_NOT_A_MODEL_FOLDER = (
    "is a folder, not a model: a model folder (model.save(path, zipped=False)) "
    "holds config.json and model.weights.h5, a SavedModel saved_model.pb"
)


def _load_folder(
    folder: ModelFolder, keras: bool, source: SourceInfo, limits: Limits
) -> LoadedModel:
    """A model folder, here or at a URL: an unzipped `.keras` or a preset (`keras`:
    config.json beside its weights), or a SavedModel.

    Raises:
        ModelLoadError: when it is neither.
    """
    if keras:
        from auditor.loaders.keras_v3 import load_keras_folder

        return load_keras_folder(folder, dataclasses.replace(source, format="keras"), limits)
    if folder.has("saved_model.pb"):
        from auditor.loaders.saved_model import load_saved_model

        return load_saved_model(folder, source, limits)
    raise ModelLoadError(_NOT_A_MODEL_FOLDER)


def _open_url(url: str, source: SourceInfo, limits: Limits, transfer: Transfer) -> LoadedModel:
    """A model at a URL, read by byte range (`loaders.remote`): a file sniffed and loaded
    as a local file is, from the remote file object (no digest: that would read it all);
    a prefix ending in `/` as a model folder; a sharded index with its shards beside it.
    The loaded model's `io` (`transfer`) counts the requests and bytes."""
    from auditor.loaders.remote import open_url

    if url.endswith("/"):
        from auditor.loaders.remote_folder import RemoteFolder

        folder = RemoteFolder(url, limits, transfer)
        keras = folder.has("config.json") and any(
            folder.has(name) for name in ("model.weights.h5", "model.weights.json")
        )
        loaded = _load_folder(folder, keras, source, limits)
        loaded.io = folder.transfer
        return loaded
    if url.lower().endswith(".weights.json"):
        from auditor.loaders.sharded import load_sharded_url

        loaded = load_sharded_url(url, transfer, source, limits)
        loaded.io = transfer
        return loaded
    raw = open_url(url, transfer)
    _check_size(raw.size, limits)
    source = dataclasses.replace(source, size_bytes=raw.size)
    try:
        layout = sniff(raw, raw.size)
    except OSError as exc:
        raise ModelLoadError(first_line(exc)) from None
    loaded = _load_layout(_half(layout, source), layout, raw, raw, source, limits)
    loaded.io = raw
    return loaded


def _load(
    half: Half, raw: BinaryIO, hdf5: str | BinaryIO, source: SourceInfo, limits: Limits
) -> LoadedModel:
    """Load one half of a file: the zip archive from the open file (the loaded model
    closes it last), or the HDF5 file by its path (the open file is closed first) or from
    the open file itself."""
    if half == "zip":
        from auditor.loaders.keras_v3 import load_keras

        return _own_raw(lambda: load_keras(raw, source, limits), raw)
    from auditor.loaders.legacy_h5 import load_legacy_h5

    if isinstance(hdf5, str):
        raw.close()
        return load_legacy_h5(hdf5, source, limits)
    return _own_raw(lambda: load_legacy_h5(hdf5, source, limits), raw)


def _other_half(
    half: Half,
    layout: Layout,
    raw: BinaryIO,
    hdf5: str | BinaryIO,
    source: SourceInfo,
    limits: Limits,
) -> tuple[tuple[tuple[str, Any], ...], LoadIssue]:
    """The documents of the half of a polyglot file that Keras would not load for its name
    (another name, or another Keras, would load it: its payloads count too), and the issue
    of the file's ambiguity itself."""
    other: Half = "hdf5" if half == "zip" else "zip"
    label = {"zip": "zip archive", "hdf5": "HDF5 file"}
    documents: tuple[tuple[str, Any], ...] = ()
    try:
        if other == "zip":
            from auditor.loaders.keras_v3 import load_keras

            loaded = load_keras(raw, source, limits)  # the open file stays the caller's
        else:
            from auditor.loaders.legacy_h5 import load_legacy_h5

            loaded = load_legacy_h5(hdf5, source, limits)
        with loaded:
            documents = tuple(
                (f"{label[other]}: {name}", document) for name, document in loaded.graph.documents
            )
        read = f"its {label[other]} was searched for payloads too"
    except ModelLoadError as exc:
        read = f"its {label[other]} could not be read ({exc})"
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        read = f"its {label[other]} could not be read ({type(exc).__name__}: {first_line(exc)})"
    finally:
        raw.seek(0)
    message = (
        f"the file is both a zip archive and an HDF5 file (superblock at byte "
        f"{layout.hdf5_at:,}): Keras loads the zip archive for a .keras name and the HDF5 "
        f"file for any other (tf-keras, and Keras 3 for .h5 and .hdf5). keras-audit audited "
        f"the {label[half]}, which Keras loads for this name; {read}"
    )
    return documents, LoadIssue(IssueKind.UNSAFE_ARCHIVE, message)


def _own_raw(load: Callable[[], LoadedModel], raw: BinaryIO) -> LoadedModel:
    """Run a loader over an open file; the loaded model closes the file last."""
    try:
        loaded = load()
    except BaseException:
        raw.close()
        raise
    loaded.push_close(raw.close)
    return loaded

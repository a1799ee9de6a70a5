"""`audit fix`: rewrite the regularizer entries of a saved model's config, nothing else.

The file is first read the static way (`auditor.loaders.open_model`, as hostile input; a
file that is unreadable or unsafe is refused). The plan (`auditor.fix.plan`) names config
key paths; only those entries of `config.json` (`.keras`) or of the `model_config`
attribute (legacy `.h5`) are rewritten, in the serialized form the writing Keras version
understands. Every other zip member and every HDF5 dataset is copied unchanged, the output
is written through a temporary file and renamed into place, and it is read back to check
that the rewrite took and (for `.keras`) that the weights member is byte-identical.
Nothing here imports keras or tensorflow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from auditor.errors import FixError
from auditor.fix.plan import Change, FixResult, make_plan
from auditor.graph.declared import Regularizer
from auditor.graph.model import IssueKind, ModelGraph, SourceInfo
from auditor.limits import Limits
from auditor.loaders import open_model
from auditor.loaders.safe_hdf5 import text_value
from auditor.loaders.safe_json import parse_json

__all__ = ["fix_file"]

_COPY_CHUNK = 1 << 20
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_REFUSED = frozenset({IssueKind.UNSAFE_ARCHIVE, IssueKind.EXTERNAL_REFERENCE, IssueKind.OVER_LIMIT})


def fix_file(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    target: Regularizer | None,
    exclude: Iterable[str],
    *,
    limits: Limits | None = None,
) -> FixResult:
    """Write `output`: `source` with its regularizers set to `target` (None: removed).

    `output` may be `source` itself (an in-place fix, still written atomically); the
    caller decides whether that is allowed.

    Raises:
        FixError: when the file cannot be read safely, or the rewrite did not take.
        ValueError: for unknown categories.
    """
    limits = limits or Limits()
    src, dst = Path(source), Path(output)
    with open_model(src, limits) as loaded:
        graph = loaded.graph
        _check_fixable(graph, src)
        changes, skipped = make_plan(graph, target, exclude)
    edits = {c.key: _serialize(target if c.after else None, graph.source) for c in changes}
    temporary = _temporary_beside(dst)
    try:
        if graph.source.format == "keras":
            _rewrite_keras(src, temporary, edits, limits)
        else:
            _rewrite_h5(src, temporary, edits, limits)
        _verify(src, temporary, graph.source.format, target, exclude, limits)
        temporary.replace(dst)
    finally:
        temporary.unlink(missing_ok=True)
    return FixResult(tuple(changes), tuple(skipped))


def _check_fixable(graph: ModelGraph, path: Path) -> None:
    fatal = next((issue for issue in graph.issues if issue.fatal), None)
    if fatal is not None:
        raise FixError(f"cannot fix {path}: {fatal.message}")
    unsafe = next((issue for issue in graph.issues if issue.kind in _REFUSED), None)
    if unsafe is not None:
        raise FixError(f"refusing to rewrite {path}, which is unsafe: {unsafe.message}")
    if graph.source.format not in ("keras", "h5"):
        raise FixError(f"cannot fix {path}: not a .keras or legacy .h5 model")


def _serialize(target: Regularizer | None, source: SourceInfo) -> Any:
    """The regularizer as the Keras version that wrote the file serializes it."""
    if target is None:
        return None
    if source.format == "keras" or (source.keras_major or 0) >= 3:
        config = (
            {"l1": target.l1, "l2": target.l2}
            if target.class_name == "L1L2"
            else ({"l1": target.l1} if target.class_name == "L1" else {"l2": target.l2})
        )
        return {
            "module": "keras.regularizers",
            "class_name": target.class_name,
            "config": config,
            "registered_name": None,
        }
    # Keras 2: before 2.4 `regularizers.l2()` was `L1L2(l2=...)`, and L1L2 loads everywhere.
    return {"class_name": "L1L2", "config": {"l1": target.l1, "l2": target.l2}}


def _temporary_beside(path: Path) -> Path:
    handle, name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(handle)
    return Path(name)


def _edit(doc: Any, edits: Mapping[str, Any], where: str) -> None:
    for key, value in edits.items():
        tokens = [(m.group(1), m.group(2)) for m in _TOKEN.finditer(key)]
        node = doc
        try:
            for name, index in tokens[:-1]:
                node = node[name] if name is not None else node[int(index)]
        except (KeyError, IndexError, TypeError):
            raise FixError(f"{where}: config key {key!r} does not resolve") from None
        last = tokens[-1][0] if tokens else None
        if not isinstance(node, dict) or last is None:
            raise FixError(f"{where}: config key {key!r} does not name a config entry")
        node[last] = value


def _rewrite_keras(src: Path, dst: Path, edits: Mapping[str, Any], limits: Limits) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename == "config.json":
                doc = parse_json(zin.read(info), "config.json", limits, detect=True)
                _edit(doc, edits, f"{src}:config.json")
                zout.writestr(_same_entry(info), json.dumps(doc).encode("utf-8"))
                continue
            with (
                zin.open(info) as member,
                zout.open(
                    _same_entry(info), "w", force_zip64=info.file_size >= zipfile.ZIP64_LIMIT
                ) as out,
            ):
                shutil.copyfileobj(member, out, _COPY_CHUNK)


def _same_entry(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    entry.compress_type = info.compress_type
    entry.external_attr = info.external_attr
    entry.comment = info.comment
    return entry


def _rewrite_h5(src: Path, dst: Path, edits: Mapping[str, Any], limits: Limits) -> None:
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        raw = f.attrs["model_config"]
        text = text_value(raw)
        if text is None:
            raise FixError(f"{src}: model_config is not text")
        doc = parse_json(text.encode("utf-8"), "model_config", limits)
        _edit(doc, edits, f"{src}:model_config")
        new = json.dumps(doc)
        # Keep the attribute's kind where h5py shows it: bytes stay bytes.
        is_bytes = isinstance(raw, bytes | np.bytes_)
        f.attrs["model_config"] = new.encode("utf-8") if is_bytes else new


def _verify(
    src: Path,
    written: Path,
    fmt: str,
    target: Regularizer | None,
    exclude: Iterable[str],
    limits: Limits,
) -> None:
    with open_model(written, limits) as loaded:
        graph = loaded.graph
        if not graph.readable:
            raise FixError(f"the rewritten {src} does not read back: {graph.issues[0].message}")
        left: list[Change] = make_plan(graph, target, exclude)[0]
    if left:
        raise FixError(f"the rewrite of {src} did not take: {left[0].describe()}")
    if fmt == "keras":
        with zipfile.ZipFile(src) as before, zipfile.ZipFile(written) as after:
            old = {i.filename: (i.CRC, i.file_size) for i in before.infolist()}
            new = {i.filename: (i.CRC, i.file_size) for i in after.infolist()}
        changed = [name for name in old if name != "config.json" and old[name] != new.get(name)]
        if changed or set(old) != set(new):
            raise FixError(f"the rewrite of {src} changed {changed or 'its member list'}")

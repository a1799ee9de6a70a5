"""Front-end for sharded weights: `NAME.weights.json` and the shards it maps, as Keras
>= 3.10 writes them (`save_weights("NAME.weights.json", max_shard_size=...)`) and
keras_hub presets store large models.

The index is `{"metadata": {...}, "weight_map": {"/layers/dense/vars": "NAME_00000.weights.h5"
or a list of shards}}`: a layer's variables may span shards. Each shard is a Keras 3
weights file of the usual tree, so the shards are scanned as one (each tensor keeps the
direct-read window of its own file) and read as a weights-only model. A shard is a file
name in the index's own folder: a path that leads elsewhere is reported (SEC004) and not
opened, and a link is never followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import h5py

from auditor.errors import ModelLoadError, first_line
from auditor.graph.model import IssueKind, LoadIssue, ModelGraph, SourceInfo
from auditor.limits import Limits
from auditor.loaders.h5tensor import file_window, remote_window
from auditor.loaders.keras_v3 import VarsNames, attach_vars
from auditor.loaders.loaded import LoadedModel, loading
from auditor.loaders.optimizer_state import training_steps
from auditor.loaders.remote import Transfer, open_url
from auditor.loaders.safe_folder import ModelFolder
from auditor.loaders.safe_hdf5 import H5Scan, Window, group_text, scan_h5
from auditor.loaders.safe_json import parse_json
from auditor.loaders.seekable import RangeSource, range_source
from auditor.loaders.weights_file import tree
from auditor.loaders.weights_only import keras3_config

__all__ = ["SHARDED_SUFFIX", "load_sharded", "load_sharded_in", "load_sharded_url"]

SHARDED_SUFFIX = ".weights.json"


#: Opens one shard by its name, or gives None when it cannot (an issue says why).
ShardOpener = Callable[[str, list[LoadIssue], ExitStack], "Shard | None"]


class Shard(NamedTuple):
    """An open shard: the HDF5 file, its direct-read window (None: read through h5py),
    and the file object h5py reads when it is at a URL."""

    file: h5py.File
    window: Window | None = None
    remote: RangeSource | None = None


def load_sharded(path: Path, source: SourceInfo, limits: Limits) -> LoadedModel:
    """Read a sharded-weights index file and its shards beside it as one weights-only
    model.

    Raises:
        ModelLoadError: for an unreadable index, or one that maps no weights.
    """

    def opener(name: str, issues: list[LoadIssue], stack: ExitStack) -> Any:
        return _open_shard(path.parent / name, name, issues, stack)

    return loading(
        lambda stack: _load(
            _read(path, limits.max_json_bytes), path.name, opener, stack, source, limits
        )
    )


def load_sharded_in(
    folder: ModelFolder, name: str, source: SourceInfo, limits: Limits
) -> LoadedModel:
    """Read the sharded-weights index `name` of a model folder (a keras_hub preset, here
    or at a URL), its shards members of the same folder.

    Raises:
        ModelLoadError: for an unreadable index, or one that maps no weights.
    """

    def opener(shard: str, issues: list[LoadIssue], stack: ExitStack) -> Any:
        if not folder.has(shard):
            issues.append(
                LoadIssue(IssueKind.UNREADABLE, f"shard {shard!r} is missing", where=shard)
            )
            return None
        view = folder.open_view(shard)
        stack.callback(view.file.close)
        h5 = _h5(view.file, shard, issues, stack)
        return Shard(h5, view.window, range_source(view.file)) if h5 is not None else None

    return loading(
        lambda stack: _load(
            folder.read(name, limits.max_json_bytes), name, opener, stack, source, limits
        )
    )


def load_sharded_url(
    url: str, transfer: Transfer, source: SourceInfo, limits: Limits
) -> LoadedModel:
    """Read a sharded-weights index at a URL, its shards the objects beside it, each read
    by range (every request counted in `transfer`).

    Raises:
        ModelLoadError: for an unreadable index, or one that maps no weights.
    """
    base, _, name = url.rpartition("/")

    def opener(shard: str, issues: list[LoadIssue], stack: ExitStack) -> Any:
        try:
            raw = open_url(f"{base}/{shard}", transfer)
        except ModelLoadError as exc:
            issues.append(LoadIssue(IssueKind.UNREADABLE, f"shard {shard!r}: {exc}", where=shard))
            return None
        h5 = _h5(raw, shard, issues, stack)
        return Shard(h5, remote_window(raw), raw) if h5 is not None else None

    def load(stack: ExitStack) -> LoadedModel:
        index = open_url(url, transfer)
        if index.size > limits.max_json_bytes:
            raise ModelLoadError(
                f"{name} is over the {limits.max_json_bytes:,}-byte cap", IssueKind.OVER_LIMIT
            )
        try:
            data = index.read(index.size) or b""
        except OSError as exc:
            raise ModelLoadError(first_line(exc)) from None
        return _load(data, name, opener, stack, source, limits)

    return loading(load)


def _load(
    data: bytes,
    index_name: str,
    open_shard: ShardOpener,
    stack: ExitStack,
    source: SourceInfo,
    limits: Limits,
) -> LoadedModel:
    index = parse_json(data, index_name, limits, detect=True)
    weight_map = index.get("weight_map") if isinstance(index, Mapping) else None
    if not isinstance(weight_map, Mapping):
        raise ModelLoadError(
            f"{index_name} has no weight_map object: not the index of sharded Keras weights"
        )
    issues: list[LoadIssue] = []
    shards = _shards(weight_map, issues, limits)
    merged = H5Scan(datasets={}, groups=set(), issues=issues)
    owner: dict[str, h5py.File] = {}  # group -> the first shard that holds it
    for name in shards:
        opened = open_shard(name, issues, stack)
        if opened is not None:
            _merge(merged, owner, opened, name, limits)
    rebuilt = keras3_config(merged, lambda group: _name(owner, group))
    root = tree(rebuilt)
    unclaimed = attach_vars(root, merged, VarsNames(lambda group: _name(owner, group), merged))
    graph = ModelGraph(
        root=root.freeze(),
        source=SourceInfo(path=source.path, format="weights", size_bytes=source.size_bytes),
        issues=tuple(merged.issues),
        unclaimed=tuple(unclaimed),
        weights_read=bool(owner),
        documents=((index_name, index),),
        training_steps=training_steps(merged),
    )
    return LoadedModel(graph, stack)


def _read(path: Path, cap: int) -> bytes:
    try:
        with path.open("rb") as file:
            data = file.read(cap + 1)
    except OSError as exc:
        raise ModelLoadError(f"cannot read the file ({exc.strerror})") from None
    if len(data) > cap:
        raise ModelLoadError(f"{path.name} is over the {cap:,}-byte cap", IssueKind.OVER_LIMIT)
    return data


def _shards(weight_map: Mapping[str, Any], issues: list[LoadIssue], limits: Limits) -> list[str]:
    """The shard names the map gives, in order, each once; names that leave the folder
    (or are not names) are reported and left out."""
    found: dict[str, None] = {}
    for group, value in weight_map.items():
        for name in value if isinstance(value, list) else [value]:
            if not isinstance(name, str) or not name:
                issues.append(
                    LoadIssue(
                        IssueKind.MALFORMED,
                        f"weight_map[{group!r}] names a shard that is not a file name "
                        f"(received {type(name).__name__})",
                        where=str(group),
                    )
                )
            elif _leaves_folder(name):
                issues.append(
                    LoadIssue(
                        IssueKind.UNSAFE_ARCHIVE,
                        f"shard {name!r} of weight_map[{group!r}] leads out of the folder "
                        "(expected a file name beside the index); not opened",
                        where=str(group),
                    )
                )
            else:
                found[name] = None
    if len(found) > limits.max_members:
        raise ModelLoadError(
            f"the index maps {len(found):,} shards, over the {limits.max_members:,} cap",
            IssueKind.OVER_LIMIT,
        )
    return list(found)


def _leaves_folder(name: str) -> bool:
    return (
        "/" in name
        or "\\" in name
        or "\x00" in name
        or name in (".", "..")
        or (len(name) > 1 and name[1] == ":")
    )


def _open_shard(path: Path, name: str, issues: list[LoadIssue], stack: ExitStack) -> Shard | None:
    try:
        mode = path.lstat().st_mode
    except OSError:
        issues.append(LoadIssue(IssueKind.UNREADABLE, f"shard {name!r} is missing", where=name))
        return None
    if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):
        what = "a symbolic link (not followed)" if stat.S_ISLNK(mode) else "not a file"
        issues.append(LoadIssue(IssueKind.EXTERNAL_REFERENCE, f"shard {name!r} is {what}", name))
        return None
    shard = _h5(os.fspath(path), name, issues, stack)
    return Shard(shard, file_window(shard)) if shard is not None else None


def _h5(
    file: str | BinaryIO, name: str, issues: list[LoadIssue], stack: ExitStack
) -> h5py.File | None:
    """A shard opened by h5py (by path, or from a file object), or None and an issue."""
    try:
        shard = h5py.File(file, "r")
    except (OSError, ValueError) as exc:
        issues.append(
            LoadIssue(
                IssueKind.UNREADABLE,
                f"shard {name!r} is not a readable HDF5 file ({first_line(exc)})",
                name,
            )
        )
        return None
    stack.callback(shard.close)
    return shard


def _merge(
    merged: H5Scan,
    owner: dict[str, h5py.File],
    opened: Shard,
    name: str,
    limits: Limits,
) -> None:
    shard, window = opened.file, opened.window
    scan = scan_h5(shard, limits, opened.remote)
    merged.issues.extend(scan.issues)
    for group in scan.groups:
        merged.groups.add(group)
        owner.setdefault(group, shard)
    for dataset, stored in scan.datasets.items():
        if dataset in merged.datasets:
            merged.issues.append(
                LoadIssue(
                    IssueKind.MALFORMED,
                    f"{dataset!r} is stored in more than one shard (kept the first; "
                    f"{name!r} repeats it)",
                    where=dataset,
                )
            )
            continue
        merged.datasets[dataset] = stored
        if window is not None:
            merged.window_of[dataset] = window
    if len(merged.datasets) + len(merged.groups) > limits.max_h5_objects:
        raise ModelLoadError(
            f"the shards hold over {limits.max_h5_objects:,} HDF5 objects together, the object cap",
            IssueKind.OVER_LIMIT,
        )


def _name(owner: Mapping[str, h5py.File], group: str) -> str | None:
    shard = owner.get(group)
    return group_text(shard, group, "name") if shard is not None else None

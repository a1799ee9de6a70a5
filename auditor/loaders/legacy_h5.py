"""Front-end for legacy full-model HDF5 files (`model.save("m.h5")`).

Written by Keras 3, tf.keras 2.x and standalone Keras 2.0+: the model config and training
config are root attributes (bytes or str), weights live under `model_weights/<layer name>`
listed by `weight_names` attributes (possibly chunked as `weight_names0`, `weight_names1`...),
named `layer/var` (Keras 3) or `layer/var:0` (Keras 2). Each stored name is matched to the
variable the config implies by its longest common path suffix, so Keras 2's
trainable-first ordering and nested-model naming need no special case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any, BinaryIO

import h5py
import numpy as np

from auditor.errors import ModelLoadError, first_line
from auditor.graph.model import ModelGraph, Role, SourceInfo
from auditor.limits import Limits
from auditor.loaders.compile import parse_compile
from auditor.loaders.config_tree import build_tree
from auditor.loaders.drafts import DraftLayer, DraftWeight
from auditor.loaders.h5_prefetch import warm_up
from auditor.loaders.h5tensor import file_window, remote_window
from auditor.loaders.layer_specs import VarSpec
from auditor.loaders.loaded import LoadedModel, attach, loading
from auditor.loaders.safe_hdf5 import H5Scan, scan_h5, string_values, text_value
from auditor.loaders.safe_json import parse_json
from auditor.loaders.seekable import RangeSource, range_source

__all__ = ["attach_named", "load_legacy_h5", "match_names", "read_attr_list", "text_attr"]

_SUFFIX = re.compile(r":\d+$")


def load_legacy_h5(path: str | BinaryIO, source: SourceInfo, limits: Limits) -> LoadedModel:
    """Read a legacy `.h5` model file, by its path or from an open file object (a remote
    object; the caller owns it).

    Raises:
        ModelLoadError: when it is not a readable Keras full-model file.
    """

    def load(stack: ExitStack) -> LoadedModel:
        try:
            f = h5py.File(path, "r")
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"not a readable HDF5 file ({first_line(exc)})") from None
        stack.callback(f.close)
        return _load(f, stack, source, limits, range_source(path))

    return loading(load)


def _load(
    f: h5py.File,
    stack: ExitStack,
    source: SourceInfo,
    limits: Limits,
    remote: RangeSource | None,
) -> LoadedModel:
    if remote is not None:  # the metadata, the root's attributes with it, before any read
        warm_up(remote, int(f.userblock_size), limits.max_h5_objects)
    model_config_raw = text_attr(f.id, "model_config", limits)
    if model_config_raw is None:
        from auditor.loaders.weights_file import load_weights_file  # it uses this module

        return load_weights_file(f, stack, source, limits, window=remote_window(remote))
    model_config = parse_json(_bytes(model_config_raw), "model_config", limits)
    if not isinstance(model_config, Mapping) or not isinstance(model_config.get("class_name"), str):
        raise ModelLoadError("model_config does not describe a Keras model (no class_name)")
    training_raw = text_attr(f.id, "training_config", limits)
    training = (
        parse_json(_bytes(training_raw), "training_config", limits) if (training_raw) else None
    )
    source = SourceInfo(
        path=source.path,
        format="h5",
        keras_version=text_attr(f.id, "keras_version", limits),
        backend=text_attr(f.id, "backend", limits),
        size_bytes=source.size_bytes,
    )
    root = build_tree(model_config)
    scan = scan_h5(f, limits)
    scan.window = file_window(f) or remote_window(remote)
    unclaimed = attach_named(f, root, scan, limits)
    graph = ModelGraph(
        root=root.freeze(),
        source=source,
        compile=parse_compile(training),
        issues=tuple(scan.issues),
        unclaimed=tuple(unclaimed),
        weights_read="model_weights" in scan.groups,
        documents=(("model_config", model_config),)
        + ((("training_config", training),) if training is not None else ()),
    )
    return LoadedModel(graph, stack)


def _read_attr(oid: h5py.h5g.GroupID, key: str, limits: Limits) -> Any:
    """An attribute of a group (or of the file's root), or None when absent; its stored
    size is checked against the JSON cap before it is read. Text is read with low-level
    calls (`string_values`: an array, or its one value when it is a scalar), anything
    else as h5py reads it.

    Low-level opens throughout: a model has one `weight_names` attribute per layer, and
    h5py's high-level lookups cost more than the reads.

    Raises:
        ModelLoadError: when it is over the cap or unreadable.
    """
    name = key.encode("utf-8", "surrogateescape")
    try:
        if not h5py.h5a.exists(oid, name):
            return None
        attr = h5py.h5a.open(oid, name)
        shape = attr.shape
        if shape is not None and 0 in shape:
            # Nothing stored (a layer without weights): an empty array, as h5py reads it,
            # and without libhdf5's error for the storage size of an empty attribute.
            return np.zeros(shape, dtype=attr.dtype)
        try:
            size = attr.get_storage_size()
        except (OSError, RuntimeError):  # an empty dataspace: libhdf5 reports an error
            size = 0
        if size > limits.max_json_bytes:
            raise ModelLoadError(
                f"attribute {key!r} stores {size:,} bytes, over the "
                f"{limits.max_json_bytes:,}-byte cap",
                "over-limit",
            )
        text = string_values(attr, shape)
        if text is not None:
            return text[()] if text.shape == () else text
        return h5py.Group(oid).attrs[key]
    except (OSError, RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"attribute {key!r} is unreadable ({first_line(exc)})") from None


def text_attr(oid: h5py.h5g.GroupID, key: str, limits: Limits) -> str | None:
    """A string attribute; None when absent or not text."""
    value = _read_attr(oid, key, limits)
    return text_value(value) if value is not None else None


def read_attr_list(group: h5py.h5g.GroupID, key: str, limits: Limits) -> list[str]:
    """A list-of-names attribute of a group, joining Keras's chunked form (`key0`,
    `key1`, ...)."""
    names: list[Any] = []
    value = _read_attr(group, key, limits)
    if value is not None:
        names.extend(_as_list(value))
    else:
        index = 0
        while (value := _read_attr(group, f"{key}{index}", limits)) is not None:
            names.extend(_as_list(value))
            index += 1
    return [text_value(n) or str(n) for n in names]


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray):
        return list(value.reshape(-1))
    return [value] if isinstance(value, bytes | str) else []


def attach_named(
    f: h5py.File, root: DraftLayer, scan: H5Scan, limits: Limits, base: str = "model_weights"
) -> list[str]:
    """Attach the tensors each layer group under `base` lists in its `weight_names` (a
    full model's `model_weights`, or the root of a Keras 2 weights file, `""`); return
    the unclaimed dataset paths under `base`."""
    if base and base not in scan.groups:
        return []
    prefix = f"{base}/" if base else ""
    claimed: set[str] = set()
    for layer in root.children:
        group_path = f"{prefix}{layer.name}"
        if group_path not in scan.groups:
            continue
        group = h5py.h5o.open(f.id, group_path.encode("utf-8", "surrogateescape"))
        names = read_attr_list(group, "weight_names", limits)
        stored = [(name, f"{group_path}/{name}") for name in names]
        if layer.opaque is not None:
            _claim_opaque(layer, stored, scan, claimed)
            continue
        candidates = [w for node in layer.walk() for w in node.weights]
        for weight, dataset_path in match_names(stored, candidates):
            attach(weight, dataset_path, scan)
            weight.stored_name = dataset_path.removeprefix(f"{group_path}/")
            claimed.add(dataset_path)
    return sorted(path for path in scan.datasets if path.startswith(prefix) and path not in claimed)


def _claim_opaque(
    layer: DraftLayer, stored: list[tuple[str, str]], scan: H5Scan, claimed: set[str]
) -> None:
    for name, dataset_path in stored:
        short = _SUFFIX.sub("", name)
        weight = DraftWeight(
            spec=VarSpec(name=short.rsplit("/", 1)[-1], role=Role.OTHER),
            path=f"{layer.path}/{short}",
            layer_path=layer.path,
            trainable=layer.trainable,
            regularizer_key=None,
            config={},
        )
        attach(weight, dataset_path, scan)
        weight.stored_name = name
        layer.weights.append(weight)
        claimed.add(dataset_path)


def match_names(
    stored: list[tuple[str, str]], candidates: list[DraftWeight]
) -> list[tuple[DraftWeight, str]]:
    """Pair stored weight names with the variables the config implies.

    Each name goes to the unclaimed candidate sharing the longest path suffix with it (the
    variable name, or an alias such as Keras 2's `depthwise_kernel`, must match). When
    names match nothing but the counts agree, the remaining ones pair up in order.
    """
    pairs: list[tuple[DraftWeight, str]] = []
    free = list(candidates)
    leftovers: list[str] = []
    for name, dataset_path in stored:
        parts = _SUFFIX.sub("", name).split("/")
        best, best_score = None, 0
        for weight in free:
            score = _suffix_score(parts, weight)
            if score > best_score:
                best, best_score = weight, score
        if best is None:
            leftovers.append(dataset_path)
            continue
        free.remove(best)
        pairs.append((best, dataset_path))
    if leftovers and len(leftovers) == len(free):
        pairs.extend(zip(free, leftovers, strict=True))
    return pairs


def _suffix_score(parts: list[str], weight: DraftWeight) -> int:
    spec = weight.spec
    if parts[-1] != spec.name and parts[-1] not in spec.aliases:
        return 0
    expected = weight.layer_path.split("/") if weight.layer_path else []
    score = 1
    for got, want in zip(reversed(parts[:-1]), reversed(expected), strict=False):
        if got != want:
            break
        score += 1
    return score


def _bytes(text: str) -> bytes:
    """An attribute's text back as bytes (undecodable bytes were kept as surrogates, and
    come back as they were, for `parse_json` to reject)."""
    return text.encode("utf-8", "surrogateescape")

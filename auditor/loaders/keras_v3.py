"""Front-end for Keras 3 `.keras` archives (config.json + metadata.json + model.weights.h5).

The weights file is handed to h5py as a zero-copy window onto the STORED zip member and is
walked once for metadata (`guard.scan_h5`); each config layer is then mapped to its HDF5
group by Keras's own naming algorithm (snake_case class name + per-container counter),
checked against the `vars.attrs["name"]` that Keras >= 3.6 writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any, BinaryIO

import h5py

from auditor.errors import ModelLoadError
from auditor.loaders.compile import parse_compile
from auditor.loaders.config_tree import DraftLayer, build_tree
from auditor.loaders.guard import H5Scan, Limits, MiB, SafeZip, parse_json, scan_h5
from auditor.loaders.loaded import LoadedModel, attach, discover_opaque
from auditor.model import IssueKind, LoadIssue, ModelGraph, SourceInfo

__all__ = ["load_keras"]


def load_keras(raw: BinaryIO, source: SourceInfo, limits: Limits) -> LoadedModel:
    """Read a `.keras` archive from an open file. The caller owns `raw`.

    Raises:
        ModelLoadError: when the archive is not a readable Keras model.
    """
    archive = SafeZip(raw, source.size_bytes or 0, limits)
    stack = ExitStack()
    stack.callback(archive.close)
    try:
        return _load(archive, stack, source, limits)
    except BaseException:
        stack.close()
        raise


def _load(archive: SafeZip, stack: ExitStack, source: SourceInfo, limits: Limits) -> LoadedModel:
    if not archive.has("config.json"):
        raise ModelLoadError("zip archive has no config.json: not a Keras 3 .keras file")
    config = parse_json(archive.read("config.json", limits.max_json_bytes), "config.json", limits)
    if not isinstance(config, Mapping) or not isinstance(config.get("class_name"), str):
        raise ModelLoadError("config.json does not describe a Keras object (no class_name)")
    keras_version = None
    if archive.has("metadata.json"):
        metadata = parse_json(archive.read("metadata.json", 1 * MiB), "metadata.json", limits)
        if isinstance(metadata, Mapping) and isinstance(metadata.get("keras_version"), str):
            keras_version = metadata["keras_version"]
    source = SourceInfo(
        path=source.path,
        format="keras",
        keras_version=keras_version,
        backend=None,
        size_bytes=source.size_bytes,
    )
    root = build_tree(config)
    issues: list[LoadIssue] = list(archive.issues)
    unclaimed: list[str] = []
    weights_read = False
    if archive.has("model.weights.h5"):
        view = archive.open_view("model.weights.h5")
        stack.callback(view.file.close)
        try:
            h5 = h5py.File(view.file, "r")
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"model.weights.h5 is not a readable HDF5 file ({exc})") from None
        stack.callback(h5.close)  # closed before the view and the archive (LIFO)
        scan = scan_h5(h5, limits, group_names=True)
        scan.window = view.window
        issues.extend(scan.issues)
        unclaimed = _attach_all(root, scan)
        weights_read = True
    elif archive.has("model.weights.npz"):
        issues.append(
            LoadIssue(
                IssueKind.UNSUPPORTED_DATA,
                "model.weights.npz stores each layer's variables as pickled object arrays; "
                "keras-audit never unpickles, so the tensors were not read",
                where="model.weights.npz",
            )
        )
    elif any(True for _ in root.walk() if _.weights):
        issues.append(LoadIssue(IssueKind.UNREADABLE, "archive has no weights member", where=""))
    graph = ModelGraph(
        root=root.freeze(),
        source=source,
        compile=parse_compile(config.get("compile_config")),
        issues=tuple(issues),
        unclaimed=tuple(unclaimed),
        weights_read=weights_read,
        documents=(("config.json", config),),
    )
    return LoadedModel(graph, stack)


def _attach_all(root: DraftLayer, scan: H5Scan) -> list[str]:
    """Attach every stored tensor to its draft weight; return the unclaimed dataset paths."""
    by_name = _vars_groups_by_layer_name(scan)
    claimed: set[str] = set()
    for layer in root.walk():
        if layer.opaque is not None:
            if layer.group is not None:
                prefix = f"{layer.group}/" if layer.group else ""
                claimed.update(discover_opaque(layer, scan, prefix, exclude=("optimizer/",)))
            continue
        if not layer.weights or layer.group is None:
            continue
        vars_group = _resolve_vars_group(layer, scan, by_name)
        for index, weight in enumerate(layer.weights):
            key = f"{vars_group}/{index}"
            attach(weight, key, scan)
            claimed.add(key)
    return sorted(
        path for path in scan.datasets if path not in claimed and not path.startswith("optimizer/")
    )


def _vars_groups_by_layer_name(scan: H5Scan) -> dict[str, list[str]]:
    """`vars` groups keyed by the layer name Keras >= 3.6 writes into their attributes."""
    index: dict[str, list[str]] = {}
    for group in scan.groups:
        if group == "vars" or group.endswith("/vars"):
            name = _name_attr(scan, group)
            if name:
                index.setdefault(name, []).append(group)
    return index


def _name_attr(scan: H5Scan, group: str) -> str | None:
    attrs = scan.group_attrs.get(group, {})
    value: Any = attrs.get("name")
    return value if isinstance(value, str) else None


def _resolve_vars_group(layer: DraftLayer, scan: H5Scan, by_name: dict[str, list[str]]) -> str:
    """The layer's `vars` group: Keras's naming algorithm, cross-checked with name attrs."""
    computed = f"{layer.group}/vars"
    written = _name_attr(scan, computed)
    if written is None or written == layer.name:
        return computed
    # The algorithm and the file disagree: trust a unique group carrying this layer's name
    # under the same container.
    container = layer.group.rsplit("/", 1)[0] if layer.group else ""
    candidates = [g for g in by_name.get(layer.name, []) if g.startswith(container)]
    return candidates[0] if len(candidates) == 1 else computed

"""Front-end for Keras 3 `.keras` archives (config.json + metadata.json + model.weights.h5),
zipped or unzipped (a folder with the same members, `loaders.safe_folder`).

The weights file is handed to h5py as a zero-copy window onto the STORED zip member and is
walked once for metadata (`safe_hdf5.scan_h5`); each config layer is then mapped to its HDF5
group by Keras's own naming algorithm (snake_case class name + per-container counter),
checked against the `vars.attrs["name"]` that Keras >= 3.6 writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import BinaryIO

import h5py

from auditor.errors import ModelLoadError
from auditor.graph.model import IssueKind, LoadIssue, ModelGraph, PickleGlobal, SourceInfo
from auditor.graph.source import is_keras_hub_object
from auditor.limits import Limits
from auditor.loaders.compile import parse_compile
from auditor.loaders.config_tree import build_tree
from auditor.loaders.drafts import DraftLayer
from auditor.loaders.loaded import LoadedModel, attach, discover_opaque, loading
from auditor.loaders.npz_scan import pickle_globals
from auditor.loaders.optimizer_state import training_steps
from auditor.loaders.safe_folder import ModelFolder
from auditor.loaders.safe_hdf5 import H5Scan, MiB, group_text, scan_h5
from auditor.loaders.safe_json import parse_json
from auditor.loaders.safe_zip import SafeZip
from auditor.loaders.seekable import range_source

__all__ = ["VarsNames", "attach_vars", "load_keras", "load_keras_folder"]


def load_keras(raw: BinaryIO, source: SourceInfo, limits: Limits) -> LoadedModel:
    """Read a `.keras` archive from an open file. The caller owns `raw`.

    Raises:
        ModelLoadError: when the archive is not a readable Keras model.
    """
    archive = SafeZip(raw, source.size_bytes or 0, limits)

    def load(stack: ExitStack) -> LoadedModel:
        stack.callback(archive.close)
        return _load(archive, stack, source, limits)

    return loading(load)


def load_keras_folder(folder: ModelFolder, source: SourceInfo, limits: Limits) -> LoadedModel:
    """Read an unzipped `.keras` folder (`model.save(path, zipped=False)`), here or at a
    URL, as an archive; a keras_hub preset folder as a preset.

    Raises:
        ModelLoadError: when it is not a readable Keras 3 model folder.
    """
    return loading(lambda stack: _load(folder, stack, source, limits))


def _load(
    archive: SafeZip | ModelFolder, stack: ExitStack, source: SourceInfo, limits: Limits
) -> LoadedModel:
    if not archive.has("config.json"):
        raise ModelLoadError("zip archive has no config.json: not a Keras 3 .keras file")
    config = parse_json(
        archive.read("config.json", limits.max_json_bytes), "config.json", limits, detect=True
    )
    if not isinstance(config, Mapping) or not isinstance(config.get("class_name"), str):
        raise ModelLoadError("config.json does not describe a Keras object (no class_name)")
    if not isinstance(archive, SafeZip) and is_keras_hub_object(config):
        from auditor.loaders.preset import load_preset

        return load_preset(archive, config, stack, source, limits)
    keras_version = None
    if archive.has("metadata.json"):
        metadata = parse_json(
            archive.read("metadata.json", 1 * MiB), "metadata.json", limits, detect=True
        )
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
    steps = None
    imports: tuple[PickleGlobal, ...] = ()
    if archive.has("model.weights.h5"):
        view = archive.open_view("model.weights.h5")
        stack.callback(view.file.close)
        try:
            h5 = h5py.File(view.file, "r")
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"model.weights.h5 is not a readable HDF5 file ({exc})") from None
        stack.callback(h5.close)  # closed before the view and the archive (LIFO)
        scan = scan_h5(h5, limits, range_source(view.file))
        scan.window = view.window
        issues.extend(scan.issues)
        unclaimed = attach_vars(root, scan, VarsNames(lambda g: group_text(h5, g, "name"), scan))
        weights_read = True
        steps = training_steps(scan)
    elif archive.has("model.weights.npz"):
        issues.append(
            LoadIssue(
                IssueKind.UNSUPPORTED_DATA,
                "model.weights.npz stores each layer's variables as pickled object arrays; "
                "keras-audit never unpickles, so the tensors were not read",
                where="model.weights.npz",
            )
        )
        view = archive.open_view("model.weights.npz")
        stack.callback(view.file.close)
        found, note = pickle_globals(view.file, "model.weights.npz", limits)
        imports = tuple(found)
        if note:
            issues.append(LoadIssue(IssueKind.UNREADABLE, note, where="model.weights.npz"))
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
        training_steps=steps,
        pickle_globals=imports,
    )
    return LoadedModel(graph, stack)


def attach_vars(root: DraftLayer, scan: H5Scan, names: VarsNames) -> list[str]:
    """Attach every stored tensor to its draft weight; return the unclaimed dataset paths."""
    claimed: set[str] = set()
    for layer in root.walk():
        if layer.opaque is not None:
            if layer.group is not None:
                prefix = f"{layer.group}/" if layer.group else ""
                claimed.update(discover_opaque(layer, scan, prefix, exclude=("optimizer/",)))
            continue
        if not layer.weights or layer.group is None:
            continue
        vars_group = _resolve_vars_group(layer, names)
        for index, weight in enumerate(layer.weights):
            key = f"{vars_group}/{index}"
            attach(weight, key, scan)
            claimed.add(key)
    return sorted(
        path for path in scan.datasets if path not in claimed and not path.startswith("optimizer/")
    )


class VarsNames:
    """The layer names Keras >= 3.6 writes on `vars` groups (a `name` attribute), read on
    demand: each weighted layer's own group, and every `vars` group only once a layer and
    its group disagree. Reading them all cost EfficientNetB7 about 0.1 s (libhdf5 reads the
    weights member through a Python file object)."""

    def __init__(self, read_name: Callable[[str], str | None], scan: H5Scan) -> None:
        self._read_name = read_name  # a group's `name` attribute, read from its file
        self._scan = scan
        self._names: dict[str, str | None] = {}
        self._groups_by_name: dict[str, list[str]] | None = None

    def of(self, group: str) -> str | None:
        """The name written on a group; None when it has none (or does not exist)."""
        if group not in self._names:
            found = group in self._scan.groups
            self._names[group] = self._read_name(group) if found else None
        return self._names[group]

    def groups_named(self, name: str) -> list[str]:
        """Every `vars` group carrying `name`."""
        if self._groups_by_name is None:
            self._groups_by_name = {}
            for group in sorted(self._scan.groups):
                if group == "vars" or group.endswith("/vars"):
                    written = self.of(group)
                    if written:
                        self._groups_by_name.setdefault(written, []).append(group)
        return self._groups_by_name.get(name, [])


def _resolve_vars_group(layer: DraftLayer, names: VarsNames) -> str:
    """The layer's `vars` group: Keras's naming algorithm, cross-checked with name attrs."""
    computed = f"{layer.group}/vars"
    written = names.of(computed)
    if written is None or written == layer.name:
        return computed
    # The algorithm and the file disagree: trust a unique group carrying this layer's name
    # under the same container.
    container = layer.group.rsplit("/", 1)[0] if layer.group else ""
    candidates = [g for g in names.groups_named(layer.name) if g.startswith(container)]
    return candidates[0] if len(candidates) == 1 else computed

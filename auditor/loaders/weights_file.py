"""Front-end for weights-only HDF5 files (`model.save_weights(...)`, Keras 3 or Keras 2).

The config is rebuilt from the file's own structure (`loaders.weights_only`), then the
tensors are attached as for a full model: by Keras 3's group naming, or by Keras 2's
`weight_names`. The graph's format is `weights`: rules that judge a config do not run.
"""

from __future__ import annotations

from contextlib import ExitStack

import h5py

from auditor.errors import ModelLoadError
from auditor.graph.model import ModelGraph, SourceInfo
from auditor.limits import Limits
from auditor.loaders.config_tree import build_tree
from auditor.loaders.drafts import DraftLayer
from auditor.loaders.h5tensor import file_window
from auditor.loaders.keras_v3 import VarsNames, attach_vars
from auditor.loaders.legacy_h5 import attach_named, read_attr_list, text_attr
from auditor.loaders.loaded import LoadedModel
from auditor.loaders.optimizer_state import training_steps
from auditor.loaders.safe_hdf5 import H5Scan, Window, group_text, scan_h5
from auditor.loaders.seekable import RangeSource
from auditor.loaders.weights_only import Rebuilt, keras2_config, keras3_config, layout

__all__ = ["load_weights_file", "tree"]


def load_weights_file(
    f: h5py.File,
    stack: ExitStack,
    source: SourceInfo,
    limits: Limits,
    *,
    window: Window | None = None,
    remote: RangeSource | None = None,
) -> LoadedModel:
    """Read an open HDF5 file that has no `model_config` as a weights-only file (`window`:
    where its bytes lie for direct reads, when it was opened through a file object;
    `remote`: the file object h5py reads, when it is at a URL).

    Raises:
        ModelLoadError: when it is not a weights file either.
    """
    scan = scan_h5(f, limits, remote)
    scan.window = window or file_window(f)
    kind = layout(scan, {str(key) for key in f.attrs})
    if kind is None:
        raise ModelLoadError(
            "HDF5 file has neither a model_config attribute nor the groups of a weights "
            "file (layers/... for Keras 3, layer_names for Keras 2): not a Keras model"
        )
    if kind == "keras3":
        rebuilt = keras3_config(scan, lambda group: _name(f, scan, group))
        root = tree(rebuilt)
        unclaimed = attach_vars(root, scan, VarsNames(lambda g: _name(f, scan, g), scan))
        version = None
    else:
        rebuilt = keras2_config(_keras2_layers(f, scan, limits))
        root = tree(rebuilt)
        unclaimed = attach_named(f, root, scan, limits, base="")
        version = text_attr(f.id, "keras_version", limits)
    graph = ModelGraph(
        root=root.freeze(),
        source=SourceInfo(
            path=source.path,
            format="weights",
            keras_version=version,
            backend=text_attr(f.id, "backend", limits) if kind == "keras2" else None,
            size_bytes=source.size_bytes,
        ),
        issues=tuple(scan.issues),
        unclaimed=tuple(unclaimed),
        weights_read=True,
        training_steps=training_steps(scan),
    )
    return LoadedModel(graph, stack)


def _name(f: h5py.File, scan: H5Scan, group: str) -> str | None:
    return group_text(f, group, "name") if group in scan.groups else None


def tree(rebuilt: Rebuilt) -> DraftLayer:
    """The draft tree of a rebuilt config, with the layers whose variables cannot be told
    apart made opaque (their tensors are then claimed with no role)."""
    root = build_tree(rebuilt.config)
    for layer in root.walk():
        reason = rebuilt.opaque.get(id(layer.config))
        if reason is not None:
            layer.opaque, layer.weights, layer.children = reason, [], []
    return root


def _keras2_layers(
    f: h5py.File, scan: H5Scan, limits: Limits
) -> list[tuple[str, list[str], list[tuple[int, ...] | None]]]:
    """Each layer's name, stored weight names and their shapes, as `layer_names` and the
    groups' `weight_names` list them."""
    layers = []
    for name in read_attr_list(f.id, "layer_names", limits):
        if name not in scan.groups:
            layers.append((name, [], []))
            continue
        group = h5py.h5o.open(f.id, name.encode("utf-8", "surrogateescape"))
        names = read_attr_list(group, "weight_names", limits)
        shapes = [
            scan.datasets[f"{name}/{n}"].shape if f"{name}/{n}" in scan.datasets else None
            for n in names
        ]
        layers.append((name, names, shapes))
    return layers

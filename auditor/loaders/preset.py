"""Front-end for keras_hub presets: a folder as `save_to_preset` writes it.

`config.json` serializes the backbone (`registered_name: "keras_hub>BertBackbone"`) with
its hyperparameters only (`num_layers`, `hidden_dim`, ...): `Backbone.get_config` does
not list layers, so no regularizer or initializer can be read from it. The weights are
a Keras 3 weights tree (`model.weights.h5`, or sharded: `model.weights.json` and its
shards), read as a weights-only file is, each layer's class recognised from its groups;
`task.weights.h5` holds the task's own layers (a classifier head) and its optimizer
state. `metadata.json` gives the Keras version and the backbone's `parameter_count`,
checked against the tensors stored. Every top-level JSON file (`task.json`,
`tokenizer.json`, `preprocessor.json`, `*_converter.json`) is kept for the security
rules, which search them whole (a tokenizer whose vocabulary is a path or a URL).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

import h5py

from auditor.errors import ModelLoadError, first_line
from auditor.graph.model import IssueKind, LoadIssue, ModelGraph, ParameterCount, SourceInfo
from auditor.limits import Limits, MiB
from auditor.loaders.loaded import LoadedModel
from auditor.loaders.safe_folder import ModelFolder
from auditor.loaders.safe_json import parse_json
from auditor.loaders.seekable import range_source

__all__ = ["load_preset"]

_WEIGHTS = ("model.weights.h5", "model.weights.json")


def load_preset(
    folder: ModelFolder,
    config: Mapping[str, Any],
    stack: ExitStack,
    source: SourceInfo,
    limits: Limits,
) -> LoadedModel:
    """Read a keras_hub preset folder whose `config.json` is `config`.

    Raises:
        ModelLoadError: when its weights cannot be opened at all.
    """
    documents = _documents(folder, config, limits)
    metadata = dict(documents).get("metadata.json")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    backbone = _weights(folder, stack, source, limits)
    graph = backbone.graph
    root = graph.root
    issues = list(folder.issues) + list(graph.issues)
    children = list(root.children)
    steps = graph.training_steps
    if folder.has("task.weights.h5"):
        task = _weights_file(folder, "task.weights.h5", stack, source, limits)
        taken = {child.name for child in children}
        clashes = sorted(c.name for c in task.graph.root.children if c.name in taken)
        if clashes:
            issues.append(
                LoadIssue(
                    IssueKind.UNSUPPORTED_DATA,
                    f"task.weights.h5 names layers the backbone has too ({', '.join(clashes)}); "
                    "its tensors were not read",
                    where="task.weights.h5",
                )
            )
        else:
            children += task.graph.root.children
            issues += task.graph.issues
            steps = task.graph.training_steps if task.graph.training_steps is not None else steps
    parameters = metadata.get("parameter_count")
    stored = sum(w.size for w in root.all_weights() if w.tensor is not None)
    combined = ModelGraph(
        root=dataclasses.replace(
            root,
            name=str(config.get("config", {}).get("name") or "backbone")
            if isinstance(config.get("config"), Mapping)
            else "backbone",
            class_name=str(config.get("class_name")),
            module=config.get("module") if isinstance(config.get("module"), str) else None,
            registered_name=config.get("registered_name")
            if isinstance(config.get("registered_name"), str)
            else None,
            children=tuple(children),
        ),
        source=SourceInfo(
            path=source.path,
            format="preset",
            keras_version=_text(metadata.get("keras_version")),
            size_bytes=source.size_bytes,
        ),
        issues=tuple(issues),
        unclaimed=graph.unclaimed,
        weights_read=graph.weights_read,
        documents=tuple(documents),
        training_steps=steps,
        parameter_check=ParameterCount("metadata.json", _weights_name(folder), parameters, stored)
        if isinstance(parameters, int) and not isinstance(parameters, bool)
        else None,
    )
    return LoadedModel(combined, stack)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _documents(
    folder: ModelFolder, config: Mapping[str, Any], limits: Limits
) -> list[tuple[str, Any]]:
    """Every top-level JSON file, parsed (`config.json` first)."""
    documents: list[tuple[str, Any]] = [("config.json", config)]
    for name in folder.names:
        if name == "config.json" or not name.lower().endswith(".json"):
            continue
        cap = 1 * MiB if name == "metadata.json" else limits.max_json_bytes
        documents.append((name, parse_json(folder.read(name, cap), name, limits, detect=True)))
    return documents


def _weights_name(folder: ModelFolder) -> str:
    return next((name for name in _WEIGHTS if folder.has(name)), _WEIGHTS[0])


def _weights(
    folder: ModelFolder, stack: ExitStack, source: SourceInfo, limits: Limits
) -> LoadedModel:
    if folder.has("model.weights.h5"):
        return _weights_file(folder, "model.weights.h5", stack, source, limits)
    if folder.has("model.weights.json"):
        from auditor.loaders.sharded import load_sharded_in

        loaded = load_sharded_in(folder, "model.weights.json", source, limits)
        stack.callback(loaded.close)
        return loaded
    raise ModelLoadError(f"the preset has no weights ({' or '.join(_WEIGHTS)})")


def _weights_file(
    folder: ModelFolder, name: str, stack: ExitStack, source: SourceInfo, limits: Limits
) -> LoadedModel:
    from auditor.loaders.weights_file import load_weights_file

    view = folder.open_view(name)
    stack.callback(view.file.close)
    try:
        h5 = h5py.File(view.file, "r")
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{name} is not a readable HDF5 file ({first_line(exc)})") from None
    stack.callback(h5.close)
    return load_weights_file(
        h5,
        ExitStack(),
        source,
        limits,
        window=view.window,
        remote=range_source(view.file),
    )

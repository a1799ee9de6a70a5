"""Front-end for SavedModel folders: `model.save("dir")` of tf.keras 2 and Keras 3's
`model.export("dir")`, read without TensorFlow.

- `saved_model.pb` is mapped, never loaded: `saved_model_pb.op_census` lists the ops of
  its graph and functions for the security rules, nothing of it runs.
- The Keras metadata (`keras_metadata.pb`, or before TensorFlow 2.5 the object graph in
  `saved_model.pb`) gives the model config and training config, as a legacy `.h5` holds
  them, and each layer's path in the object graph (`root.layer_with_weights-0`).
- The variables are a tensor bundle (`tensor_bundle`). The checkpoint's object graph
  (the `_CHECKPOINTABLE_OBJECT_GRAPH` string) links each layer's object to its variables
  by local name (`kernel`) and gives each variable its checkpoint key: a variable is
  saved once, under the first path to it (a nested model's weights may sit under the
  root's `variables/8`), so keys are never parsed for their meaning.
- A SavedModel without Keras metadata (`export()`) has no config: its layers are rebuilt
  from the variables' full names (`subseq/inner/kernel`) as a weights-only file's are,
  and the report says what could not be judged.

Folders and files are opened as `safe_folder` opens them: a link is reported, never
followed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from auditor.errors import ModelLoadError
from auditor.graph.model import GraphOp, IssueKind, LoadIssue, ModelGraph, SourceInfo
from auditor.limits import Limits
from auditor.loaders.bundle_tensor import BundleTensor
from auditor.loaders.checkpoint_graph import CheckpointGraph, StoredVariable
from auditor.loaders.compile import parse_compile
from auditor.loaders.config_tree import build_tree
from auditor.loaders.drafts import DraftLayer
from auditor.loaders.legacy_h5 import match_names
from auditor.loaders.loaded import LoadedModel, loading
from auditor.loaders.protowire import ProtoError
from auditor.loaders.safe_folder import ModelFolder
from auditor.loaders.safe_json import parse_json
from auditor.loaders.saved_model_pb import MetadataNode, keras_metadata, legacy_metadata, op_census
from auditor.loaders.seekable import Positional
from auditor.loaders.tensor_bundle import Bundle, parse_index, shard_name
from auditor.loaders.weights_file import tree
from auditor.loaders.weights_only import keras2_config

__all__ = ["load_saved_model"]

_LAYER_KINDS = frozenset(
    {
        "_tf_keras_layer",
        "_tf_keras_input_layer",
        "_tf_keras_rnn_layer",
        "_tf_keras_network",
        "_tf_keras_model",
        "_tf_keras_sequential",
    }
)
#: Checkpoint keys that are not the model's weights: the optimizer's slots and step,
#: compiled metrics, the checkpoint counter.
_NOT_WEIGHTS = re.compile(r"^(optimizer|keras_api|save_counter)(/|$)")
_STEP_KEYS = (
    "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE",
    "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE",
)


def load_saved_model(folder: ModelFolder, source: SourceInfo, limits: Limits) -> LoadedModel:
    """Read a SavedModel folder, here or at a URL.

    Raises:
        ModelLoadError: when it is not a readable SavedModel.
    """
    return loading(lambda stack: _load(folder, stack, source, limits))


def _load(folder: ModelFolder, stack: ExitStack, source: SourceInfo, limits: Limits) -> LoadedModel:
    issues = list(folder.issues)
    if not folder.has("saved_model.pb"):
        raise ModelLoadError("the folder has no saved_model.pb file (a link is not followed)")
    program = folder.whole("saved_model.pb", stack)
    try:
        census = op_census(program)
        if folder.has("keras_metadata.pb"):
            nodes = keras_metadata(folder.read("keras_metadata.pb", limits.max_json_bytes))
        else:
            nodes = legacy_metadata(program, limits.max_h5_objects)
    except ProtoError as exc:
        raise ModelLoadError(f"saved_model.pb or keras_metadata.pb is malformed ({exc})") from None
    ops = tuple(
        GraphOp(op=op, function=function, count=count)
        for (function, op), count in sorted(census.items())
    )
    stored = _variables(folder, stack, limits, issues)
    root_node = next((node for node in nodes if node.path == "root"), None)
    if root_node is not None:
        return _keras_model(root_node, nodes, stored, ops, issues, stack, source, limits)
    return _exported(stored, ops, issues, stack, source)


class _Stored:
    """The bundle, its open shards and its object graph (all empty without variables)."""

    def __init__(self) -> None:
        self.bundle = Bundle(shards=0)
        self.shards: dict[int, Positional] = {}
        self.graph = CheckpointGraph([])
        self.claimed: set[str] = set()

    def tensor(self, key: str) -> BundleTensor | None:
        entry = self.bundle.entries.get(key)
        if entry is None or entry.shard not in self.shards:
            return None
        return BundleTensor(entry, self.shards[entry.shard])

    def steps(self) -> int | None:
        for key in _STEP_KEYS:
            tensor = self.tensor(key)
            if tensor is not None and tensor.shape == () and tensor.dtype.startswith("int"):
                try:
                    return int(next(tensor.iter_chunks(64)))
                except (OSError, ValueError):
                    return None
        return None

    def unclaimed(self) -> tuple[str, ...]:
        return tuple(
            key
            for key in sorted(self.bundle.entries)
            if key not in self.claimed and not _NOT_WEIGHTS.match(key)
        )


def _variables(
    folder: ModelFolder, stack: ExitStack, limits: Limits, issues: list[LoadIssue]
) -> _Stored:
    """The variables, or none: a bundle that cannot be read is reported as an issue, and
    the rest of the SavedModel (its config, its graph) is still audited."""
    try:
        return _read_variables(folder, stack, limits, issues)
    except ModelLoadError as exc:
        issues.append(LoadIssue(IssueKind(exc.kind), str(exc), where="variables"))
        return _Stored()


def _read_variables(
    saved: ModelFolder, stack: ExitStack, limits: Limits, issues: list[LoadIssue]
) -> _Stored:
    stored = _Stored()
    if not saved.is_folder("variables"):
        if not any(issue.where == "variables" for issue in saved.issues):  # not a link
            issues.append(
                LoadIssue(
                    IssueKind.UNREADABLE, "the SavedModel has no variables folder", "variables"
                )
            )
        return stored
    folder = saved.folder("variables")
    issues.extend(folder.issues)
    if not folder.has("variables.index"):
        issues.append(LoadIssue(IssueKind.UNREADABLE, "variables/variables.index is missing"))
        return stored
    stored.bundle = parse_index(folder.read("variables.index", limits.max_json_bytes), limits)
    issues.extend(stored.bundle.issues)
    for shard in range(stored.bundle.shards):
        name = shard_name("variables", shard, stored.bundle.shards)
        if not folder.has(name):
            issues.append(
                LoadIssue(IssueKind.UNREADABLE, f"variables/{name} is missing", where=name)
            )
            continue
        stored.shards[shard], size = folder.positional(name, stack)
        stored.bundle.check_extents(shard, size)
    stored.graph = CheckpointGraph.read(stored.bundle, stored.shards, limits)
    return stored


def _keras_model(
    root_node: MetadataNode,
    nodes: list[MetadataNode],
    stored: _Stored,
    ops: tuple[GraphOp, ...],
    issues: list[LoadIssue],
    stack: ExitStack,
    source: SourceInfo,
    limits: Limits,
) -> LoadedModel:
    meta = _json(root_node, limits)
    model_config = meta.get("model_config")
    if not isinstance(model_config, Mapping) or not isinstance(model_config.get("class_name"), str):
        model_config = {"class_name": meta.get("class_name"), "config": meta.get("config")}
    if not isinstance(model_config.get("class_name"), str):
        raise ModelLoadError("the Keras metadata's root describes no model (no class_name)")
    training = meta.get("training_config")
    root = build_tree(model_config)
    _attach_layers(root, nodes, stored, limits)
    graph = ModelGraph(
        root=root.freeze(),
        source=SourceInfo(
            path=source.path,
            format="savedmodel",
            keras_version=_str(meta.get("keras_version")),
            backend=_str(meta.get("backend")),
            size_bytes=source.size_bytes,
        ),
        compile=parse_compile(training) if isinstance(training, Mapping) else None,
        issues=tuple(issues),
        unclaimed=stored.unclaimed(),
        weights_read=bool(stored.shards),
        documents=(("model_config", model_config),)
        + ((("training_config", training),) if training is not None else ()),
        training_steps=stored.steps(),
        ops=ops,
    )
    return LoadedModel(graph, stack)


def _json(node: MetadataNode, limits: Limits) -> Mapping[str, Any]:
    value = parse_json(node.metadata, f"the Keras metadata of {node.path}", limits)
    if not isinstance(value, Mapping):
        raise ModelLoadError(f"the Keras metadata of {node.path} is not a JSON object")
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _attach_layers(
    root: DraftLayer, nodes: list[MetadataNode], stored: _Stored, limits: Limits
) -> None:
    """Give each layer the variables its object links to, matched by name. A node's
    draft layer is found by its name under its parent's (the tree's paths are not the
    names joined: a Sequential root's layers carry its name)."""
    layers = {node.path: node for node in nodes if node.identifier in _LAYER_KINDS}
    drafts: dict[str, DraftLayer] = {"root": root}
    named: dict[str, dict[str, DraftLayer]] = {}  # a draft's children by name
    for path in sorted(layers, key=lambda p: p.count(".")):
        parent, _, _ = path.rpartition(".")
        if parent not in drafts or path == "root":
            continue
        if parent not in named:
            named[parent] = {}
            for child in drafts[parent].children:
                named[parent].setdefault(child.name, child)
        name = _json(layers[path], limits).get("name")
        found = named[parent].get(name) if isinstance(name, str) else None
        if found is not None:
            drafts[path] = found
    layer_objects = {stored.graph.find(path) for path in layers} - {None}
    for path, draft in drafts.items():
        found = stored.graph.find(path)
        if found is None:
            continue
        variables = stored.graph.variables_of(found, stop=layer_objects)
        _attach(draft, variables, stored)


def _attach(layer: DraftLayer, variables: list[StoredVariable], stored: _Stored) -> None:
    candidates = [w for node in layer.walk() for w in node.weights if w.storage is None]
    pairs = match_names([(v.local_name, v.key) for v in variables], candidates)
    for weight, key in pairs:
        weight.storage = key
        stored.claimed.add(key)
        tensor = stored.tensor(key)
        if tensor is not None:
            weight.tensor, weight.shape, weight.dtype = tensor, tensor.shape, tensor.dtype


def _exported(
    stored: _Stored,
    ops: tuple[GraphOp, ...],
    issues: list[LoadIssue],
    stack: ExitStack,
    source: SourceInfo,
) -> LoadedModel:
    """A SavedModel without Keras metadata: layers rebuilt from the variables' names."""
    by_layer: dict[str, list[StoredVariable]] = {}
    for variable in stored.graph.named_variables():
        if _NOT_WEIGHTS.match(variable.key) or variable.key not in stored.bundle.entries:
            continue
        if variable.full_name in {v.full_name for v in by_layer.get(variable.layer, [])}:
            stored.claimed.add(variable.key)  # the same variable listed twice (Keras 3)
            continue
        by_layer.setdefault(variable.layer, []).append(variable)
    rebuilt = keras2_config(
        [
            (
                layer,
                [v.full_name for v in found],
                [stored.bundle.entries[v.key].shape for v in found],
            )
            for layer, found in by_layer.items()
        ]
    )
    root = tree(rebuilt)
    drafts = {layer.name: layer for layer in root.children}
    for layer, found in by_layer.items():
        if layer in drafts:
            _attach(drafts[layer], found, stored)
    graph = ModelGraph(
        root=root.freeze(),
        source=SourceInfo(path=source.path, format="export", size_bytes=source.size_bytes),
        issues=tuple(issues),
        unclaimed=stored.unclaimed(),
        weights_read=bool(stored.shards),
        training_steps=stored.steps(),
        ops=ops,
    )
    return LoadedModel(graph, stack)

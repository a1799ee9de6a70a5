"""Front-end for a live Keras 3 `keras.Model`: its config, plus the runtime truth.

The layer tree comes from the model's own serialized config through the same
`config_tree.build_tree` the file loaders use, so paths, config keys and declared
regularizers mean exactly what they mean for a saved file. Each draft layer is then bound
to its live layer object, and each draft weight to its live variable, adding what only the
running objects know:

* the regularizer the variable actually carries (`variable.regularizer`, what
  `model.losses` is computed from), which differs from the config after a post-build
  `layer.kernel_regularizer = ...`;
* whether the variable is in `model.trainable_weights` (Keras 3 regularizes only those);
* `*_regularizer` attributes set on a layer that its config does not carry;
* losses `add_loss()` left on built-in layers from outside `call()` (`layer._losses`);
* the compiled optimizer's class, learning rate, `weight_decay` and exclusions.

Layers the config cannot describe (subclassed models, custom layers) are expanded from the
live objects: their sub-layers and variables are visible even where the config is opaque.

This module imports keras; it is only imported when `auditor.audit()` is given a model.
Reading private Keras attributes (`_flatten_layers`, `_losses`, `_inbound_nodes`) is
confined to this module and to `live_compile` (the optimizer's exclusion set), and pinned
by tests/test_live.py.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.graph.declared import UnusedRegularizer
from auditor.graph.model import (
    IssueKind,
    LoadIssue,
    ModelGraph,
    Role,
    SourceInfo,
)
from auditor.loaders.config_tree import build_tree, layer_from_entry
from auditor.loaders.drafts import DraftLayer, DraftWeight
from auditor.loaders.layer_specs import VarSpec
from auditor.loaders.live_compile import live_compile
from auditor.loaders.serialized import parse_regularizer
from auditor.text import safe_tree

__all__ = ["LiveModel", "LiveTensor", "load_live"]

_ROLES_BY_NAME = {role.value: role for role in Role if role is not Role.OTHER}


@dataclass(frozen=True, slots=True)
class LiveModel:
    """A live model's graph, with the objects behind it (for the fixer).

    Attributes:
        graph: ModelGraph, `live=True`.
        layers: layer path -> the live layer object.
        variables: weight path -> the live variable.
    """

    graph: ModelGraph
    layers: Mapping[str, Any]
    variables: Mapping[str, Any]


class LiveTensor:
    """A live variable's values, converted to numpy when first read."""

    __slots__ = ("_dtype", "_shape", "_variable")

    def __init__(self, variable: Any) -> None:
        self._variable = variable
        self._shape = tuple(int(d) for d in variable.shape)
        self._dtype = str(variable.dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> str:
        return self._dtype

    def iter_chunks(self, max_bytes: int) -> Iterator[np.ndarray]:
        import keras

        values = np.asarray(keras.ops.convert_to_numpy(self._variable.value))
        if values.dtype.kind not in "biuf" or values.dtype.name == "bfloat16":
            values = values.astype(np.float32)
        if values.ndim == 0 or values.size == 0:
            yield values
            return
        row_bytes = max(1, math.prod(values.shape[1:]) * values.itemsize)
        step = max(1, max_bytes // row_bytes)
        for start in range(0, values.shape[0], step):
            yield values[start : start + step]


def load_live(model: Any) -> LiveModel:
    """Build the graph of a built Keras 3 model.

    Raises:
        TypeError: when `model` is not a Keras 3 `keras.Model`.
        ValueError: when the model is not built (it has no variables yet).
    """
    import keras

    if not isinstance(model, keras.Model):
        kind = f"{type(model).__module__}.{type(model).__name__}"
        hint = (
            " (a tf.keras 2 model: save it with model.save('m.h5') and audit the file)"
            if kind.startswith(("tf_keras.", "tensorflow.python.keras.", "keras.engine"))
            else ""
        )
        raise TypeError(
            "audit() takes a Keras 3 keras.Model, a model file path, or a list of paths. "
            f"Received: {kind}{hint}"
        )
    if not model.built:
        raise ValueError(
            "The model is not built, so it has no variables to audit: call it on a batch "
            f"or call `model.build(input_shape)` first. Received: unbuilt model {model.name!r}"
        )
    binder = _Binder(model)
    graph = ModelGraph(
        root=binder.root.freeze(),
        source=SourceInfo(
            path=f"<live {type(model).__name__} {model.name!r}>",
            format="live",
            keras_version=keras.__version__,
            backend=keras.backend.backend(),
        ),
        compile=live_compile(model, binder.keras, binder.variables),
        issues=tuple(binder.issues),
        weights_read=True,
        live=True,
    )
    return LiveModel(graph=graph, layers=binder.layers, variables=binder.variables)


class _Binder:
    """Builds the draft tree from the config and binds it to the live objects."""

    def __init__(self, model: Any) -> None:
        import keras

        self.keras = keras
        self.issues: list[LoadIssue] = []
        self.layers: dict[str, Any] = {}
        self.variables: dict[str, Any] = {}
        self.trainable = {id(v) for v in model.trainable_weights}
        self.paths: dict[int, str] = {}
        serialized = self._serialize(model)
        self.root = build_tree(serialized)
        self.root.name = model.name
        self._bind(self.root, model)
        self._claim_leftovers(model)

    def _serialize(self, obj: Any) -> Mapping[str, Any]:
        try:
            serialized = self.keras.saving.serialize_keras_object(obj)
        except Exception as exc:  # a custom get_config() may raise anything
            self.issues.append(
                LoadIssue(
                    IssueKind.UNSUPPORTED_DATA,
                    f"{obj.name!r}.get_config() raised {type(exc).__name__}: {exc}; its "
                    "sub-layers and variables are read from the live objects only",
                    where=str(getattr(obj, "path", "") or obj.name),
                )
            )
            serialized = None
        serialized = _as_json(serialized)
        if not isinstance(serialized, Mapping) or not isinstance(serialized.get("config"), Mapping):
            return {
                "class_name": type(obj).__name__,
                "module": type(obj).__module__,
                "registered_name": type(obj).__name__,
                "config": {"name": obj.name, "trainable": bool(obj.trainable)},
            }
        return serialized

    def _bind(self, draft: DraftLayer, obj: Any) -> None:
        self.layers[draft.path] = obj
        subs = {layer.name: layer for layer in _sublayers(obj)}
        if draft.opaque is not None and (subs or _own_variables(obj)):
            self._expand(draft, obj, subs)
        for child in draft.children:
            live_child = subs.get(child.name)
            if live_child is not None:
                self._bind(child, live_child)
        self._bind_weights(draft, obj)
        self._note_attributes(draft, obj)
        draft.added_losses = self._added_losses(obj)

    def _expand(self, draft: DraftLayer, obj: Any, subs: Mapping[str, Any]) -> None:
        """Describe an opaque layer from its live sub-layers and variables."""
        draft.opaque = None
        draft.is_model = draft.is_model or isinstance(obj, self.keras.Model)
        for index, sub in enumerate(subs.values()):
            # Keras paths a sub-layer by where it was created (`sub/dense` for a layer
            # made in a subclassed model's __init__); keep that path.
            path = str(getattr(sub, "path", "") or "")
            if not path.endswith(sub.name):
                path = f"{draft.path}/{sub.name}" if draft.path else sub.name
            base = path[: -len(sub.name)].rstrip("/")
            entry = self._serialize(sub)
            key = f"{draft.config_key}.<live>[{index}]"
            child = layer_from_entry(draft, entry, key, base)
            child.name = sub.name
            draft.children.append(child)

    def _bind_weights(self, draft: DraftLayer, obj: Any) -> None:
        own = _own_variables(obj)
        if draft.opaque is not None and not own:
            return
        by_name: dict[str, Any] = {}
        for variable in own:
            by_name.setdefault(_short_name(variable), variable)
        unmatched = []
        for weight in draft.weights:
            names = (weight.spec.name, *weight.spec.aliases)
            variable = next((by_name.pop(n) for n in names if n in by_name), None)
            if variable is not None:
                self._attach(weight, variable)
            else:
                unmatched.append(weight)
        for weight in unmatched:
            # `add_weight(name=None)` names variables from a global counter: `variable_3`.
            pattern = re.compile(rf"{re.escape(weight.spec.name)}_\d+")
            name = next((n for n in by_name if pattern.fullmatch(n)), None)
            if name is not None:
                self._attach(weight, by_name.pop(name))
        for name, variable in by_name.items():  # variables no spec describes
            key = f"{name}_regularizer"
            spec = VarSpec(
                name=name,
                role=_ROLES_BY_NAME.get(name, Role.OTHER),
                regularizer_key=key if key in draft.config else None,
            )
            weight = DraftWeight(
                spec=spec,
                path=f"{draft.path}/{name}" if draft.path else name,
                layer_path=draft.path,
                trainable=draft.trainable,
                regularizer_key=key if key in draft.config else None,
                config=draft.config,
            )
            self._attach(weight, variable)
            draft.weights.append(weight)

    def _attach(self, weight: DraftWeight, variable: Any) -> None:
        tensor = LiveTensor(variable)
        weight.tensor = tensor
        weight.shape = tensor.shape
        weight.dtype = tensor.dtype
        weight.storage = str(variable.path)
        weight.trainable = id(variable) in self.trainable
        weight.active_regularizer = self._regularizer(variable.regularizer)
        self.variables[weight.path] = variable
        self.paths[id(variable)] = weight.path

    def _regularizer(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            serialized = self.keras.regularizers.serialize(value)
        except Exception:  # a custom regularizer without a usable get_config()
            serialized = {"class_name": type(value).__name__, "config": {}}
        return parse_regularizer(serialized)

    def _note_attributes(self, draft: DraftLayer, obj: Any) -> None:
        """`*_regularizer` attributes set on the layer that its config does not carry."""
        if draft.opaque is not None or draft.is_model:
            return
        for name, value in vars(obj).items():
            if (
                name.endswith("_regularizer")
                and not name.startswith("_")
                and name != "activity_regularizer"
                and name not in draft.config
                and isinstance(value, self.keras.regularizers.Regularizer)
            ):
                regularizer = self._regularizer(value)
                if regularizer is not None:
                    draft.unused_regularizers.append(
                        UnusedRegularizer(name, regularizer, attribute=True)
                    )

    def _added_losses(self, obj: Any) -> tuple[float, ...]:
        """The losses `add_loss()` left on a built-in layer that its calls do not explain.

        A built-in layer adds losses in `call()` only for its activity regularizer, one per
        call (each inbound node); anything beyond that was added from outside `call()`.
        Custom layers may add losses in `call()`, so theirs are not judged.
        """
        own = list(getattr(obj, "_losses", None) or ())
        if not own or not type(obj).__module__.startswith("keras."):
            return ()
        calls = len(getattr(obj, "_inbound_nodes", None) or ())
        explained = calls if getattr(obj, "activity_regularizer", None) is not None else 0
        return tuple(_loss_value(self.keras, loss) for loss in own[explained:])

    def _claim_leftovers(self, model: Any) -> None:
        """Variables no layer of the tree claimed join the deepest layer above them."""
        nodes = {node.path: node for node in self.root.walk()}
        for variable in model.weights:
            if id(variable) in self.paths:
                continue
            path = str(variable.path)
            owner_path = path.rsplit("/", 1)[0] if "/" in path else ""
            while owner_path not in nodes and owner_path:
                owner_path = owner_path.rsplit("/", 1)[0] if "/" in owner_path else ""
            owner = nodes.get(owner_path, self.root)
            name = path[len(owner_path) + 1 :] if owner_path else path
            weight = DraftWeight(
                spec=VarSpec(name=name, role=Role.OTHER),
                path=path,
                layer_path=owner.path,
                trainable=owner.trainable,
                regularizer_key=None,
                config={},
            )
            self._attach(weight, variable)
            owner.weights.append(weight)


def _loss_value(keras: Any, loss: Any) -> float:
    """A loss tensor's value as Keras adds it to the total (summed); NaN if unreadable."""
    try:
        return float(np.sum(keras.ops.convert_to_numpy(loss)))
    except Exception:  # a symbolic or otherwise unreadable tensor
        return math.nan


def _as_json(value: Any) -> Any:
    """The config as `model.save()` writes it to config.json (tuples become lists, numpy
    values plain numbers, strings made safe), so that rules read a live config and a
    file's alike."""
    try:
        return safe_tree(json.loads(json.dumps(value, default=_json_default)))
    except (TypeError, ValueError):
        return None


def _json_default(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else str(value)


def _sublayers(obj: Any) -> list[Any]:
    """The layers `obj` tracks directly (Keras's own traversal, not recursive)."""
    flatten = getattr(obj, "_flatten_layers", None)
    if flatten is None:
        return []
    return list(flatten(include_self=False, recursive=False))


def _own_variables(obj: Any) -> list[Any]:
    """The variables of `obj` that none of its sub-layers owns, in save order."""
    inner = {id(v) for sub in _sublayers(obj) for v in sub.weights}
    return [v for v in obj.weights if id(v) not in inner]


def _short_name(variable: Any) -> str:
    return str(variable.name).rsplit("/", 1)[-1].split(":", 1)[0]

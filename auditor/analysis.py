"""Shared judgements about weights that several rules need (one place, one definition).

"Decay" means any weight penalty: a non-zero L1/L2 regularizer on a trainable weight, or
optimizer weight decay that is not known to exclude the weight.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Any

from auditor.model import LayerNode, ModelGraph, OptimizerSpec, Role, WeightRef

__all__ = [
    "ADAPTIVE_OPTIMIZERS",
    "NORMALIZATION_CLASSES",
    "Decay",
    "Family",
    "common_prefix",
    "declaring_layer",
    "family_of",
    "fmt",
    "layer_at",
    "layer_index",
    "layer_of",
    "optimizer_decay",
    "paths_text",
    "walk_documents",
    "walk_objects",
]

NORMALIZATION_CLASSES = frozenset(
    {"BatchNormalization", "SyncBatchNormalization", "LayerNormalization", "GroupNormalization"}
)


# Optimizers that rescale each parameter's gradient (lower-cased class names, Keras 2 and 3).
ADAPTIVE_OPTIMIZERS = frozenset(
    {
        "adam",
        "adamw",
        "adamax",
        "nadam",
        "rmsprop",
        "adagrad",
        "adadelta",
        "adafactor",
        "lion",
        "lamb",
        "ftrl",
        "muon",
        "lazyadam",
    }
)


class Decay(StrEnum):
    """Whether the optimizer's decoupled weight decay reaches a weight."""

    DECAYED = "decayed"
    EXCLUDED = "excluded"
    NONE = "none"
    UNKNOWN_EXCLUSIONS = "unknown-exclusions"


def optimizer_decay(weight: WeightRef, optimizer: OptimizerSpec | None) -> Decay:
    """How the optimizer's weight decay treats a weight.

    Files never carry the exclusion list, so every trainable weight of a file whose
    optimizer has `weight_decay > 0` is `UNKNOWN_EXCLUSIONS`: after a reload Keras decays
    it. Live optimizers give the exclusions, matched as Keras 3's `_use_weight_decay` does:
    the variables passed as `var_list`, and `re.search` of each `var_names` pattern against
    the short variable name.
    """
    if optimizer is None or not optimizer.decays or not weight.trainable:
        return Decay.NONE
    if optimizer.exclusions is None:
        return Decay.UNKNOWN_EXCLUSIONS
    if weight.path in optimizer.excluded_paths or any(
        re.search(pattern, weight.name) for pattern in optimizer.exclusions
    ):
        return Decay.EXCLUDED
    return Decay.DECAYED


def is_decayed_by_optimizer(weight: WeightRef, optimizer: OptimizerSpec | None) -> bool:
    """True when the optimizer decays the weight (or may: exclusions unknown)."""
    return optimizer_decay(weight, optimizer) in (Decay.DECAYED, Decay.UNKNOWN_EXCLUSIONS)


class Family(StrEnum):
    """Weights that should be treated alike by a regularization scheme."""

    KERNEL = "kernel"
    DEPTHWISE = "depthwise"
    POINTWISE = "pointwise"
    RECURRENT = "recurrent"
    EMBEDDINGS = "embeddings"


_FAMILIES = {
    Role.KERNEL: Family.KERNEL,
    Role.DEPTHWISE_KERNEL: Family.DEPTHWISE,
    Role.POINTWISE_KERNEL: Family.POINTWISE,
    Role.RECURRENT_KERNEL: Family.RECURRENT,
    Role.EMBEDDINGS: Family.EMBEDDINGS,
}

FAMILY_LABELS = {
    Family.KERNEL: "dense/conv kernels",
    Family.DEPTHWISE: "depthwise kernels",
    Family.POINTWISE: "pointwise kernels",
    Family.RECURRENT: "recurrent kernels",
    Family.EMBEDDINGS: "embeddings",
}


def family_of(weight: WeightRef) -> Family | None:
    """The regularization family of a weight, or None (biases, norms, statistics)."""
    return _FAMILIES.get(weight.role)


def layer_of(model: ModelGraph, path: str) -> LayerNode | None:
    """The layer node at a path."""
    for node in model.root.walk():
        if node.path == path:
            return node
    return None


def common_prefix(paths: Iterable[str]) -> str:
    """The deepest layer path containing all of `paths` (`""` = the model)."""
    split = [p.split("/") for p in paths]
    if not split:
        return ""
    prefix: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        prefix.append(parts[0])
    return "/".join(prefix)


def paths_text(paths: list[str], limit: int = 5) -> str:
    """`a, b, c and 12 more` for messages; the full list goes into `details`."""
    shown = ", ".join(f"`{p}`" for p in paths[:limit])
    rest = len(paths) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


def fmt(value: float) -> str:
    """A coefficient or ratio, readably (`1e-04`, `0.01`, `3.2`)."""
    if value == 0 or not math.isfinite(value):
        return repr(value)
    if abs(value) < 1e-3 or abs(value) >= 1e5:
        return f"{value:.2g}"
    return f"{value:.4g}"


def declared_regularizers(
    model: ModelGraph,
) -> list[tuple[LayerNode, str, WeightRef, list[WeightRef]]]:
    """Each declared regularizer once: (owner layer, config key, first weight, all weights).

    The owner is the layer whose config declares it: an RNN for its cell's kernel,
    MultiHeadAttention for its four projections (which share one config key).
    """
    by_key = {node.config_key: node for node in model.root.walk()}
    groups: dict[str, list[WeightRef]] = {}
    for weight in model.weights():
        if weight.regularizer is not None and weight.regularizer_key:
            groups.setdefault(weight.regularizer_key, []).append(weight)
    result = []
    for key, weights in groups.items():
        owner = declaring_layer(key, by_key) or layer_of(model, weights[0].layer_path)
        if owner is not None:
            result.append((owner, key, weights[0], weights))
    return result


def declaring_layer(key: str, by_key: dict[str, LayerNode]) -> LayerNode | None:
    """The innermost layer whose own config holds `key` (`<layer key>.config.<...>`)."""
    end = len(key)
    while (end := key.rfind(".config.", 0, end)) != -1:
        node = by_key.get(key[:end])
        if node is not None:
            return node
    return None


def walk_documents(model: ModelGraph) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """Every JSON object in the file's documents: (document, key path, object).

    Key paths use the loaders' form (`config.layers[3].config`), so `layer_at()` finds the
    layer an object belongs to (`walk_objects` tracks it on the way down).
    """
    for name, document in model.documents:
        for path, value, _ in walk_objects(document):
            yield name, path, value


def walk_objects(
    document: Any, index: Mapping[str, LayerNode] | None = None
) -> Iterator[tuple[str, Mapping[str, Any], LayerNode | None]]:
    """Every JSON object of one document, depth first: (key path, object, layer).

    `layer` is the innermost layer whose config entry (a key of `index`, see
    `layer_index`) holds the object, None outside any layer or without an index.
    Iterative: hostile nesting cannot exhaust the stack (the loaders already capped the
    depth). The SEC rules walk every object of every config, about 10,000 in a large
    model: scalars, most of the values, are ruled out by their exact type, before any
    ABC check (one on each value costed more than the rest of the walk).
    """
    stack: list[tuple[str, Any, LayerNode | None]] = []
    push = stack.append
    if _holds_objects(document):
        push(("", document, None))
    while stack:
        path, value, layer = stack.pop()
        if index is not None and path:
            layer = index.get(path, layer)
        kind = type(value)
        if kind is list or (kind is not dict and not isinstance(value, Mapping)):
            for i in range(len(value) - 1, -1, -1):  # pushed in reverse: popped in order
                if _holds_objects(item := value[i]):
                    push((f"{path}[{i}]", item, layer))
            continue
        yield path, value, layer
        prefix = f"{path}." if path else ""
        for key, item in reversed(list(value.items())):
            if _holds_objects(item):
                push((f"{prefix}{key}", item, layer))


def _holds_objects(value: Any) -> bool:
    """A JSON object or array (Mappings and lists of other types included)."""
    kind = type(value)
    if kind is dict or kind is list:
        return True
    return kind not in _JSON_SCALARS and isinstance(value, Mapping | list)


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def layer_index(model: ModelGraph) -> dict[str, LayerNode]:
    """Layer config key -> layer, for `layer_at` (the root model excluded)."""
    return {node.config_key: node for node in model.root.walk() if node.path and node.config_key}


def layer_at(index: Mapping[str, LayerNode], key_path: str) -> LayerNode | None:
    """The innermost layer whose config contains `key_path` (None: outside any layer),
    found by trimming the path from the right: `config.layers[3].config.function` ->
    `config.layers[3].config` -> `config.layers[3]`."""
    path = key_path
    while path:
        node = index.get(path)
        if node is not None:
            return node
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return None
        path = path[:cut]
    return None


def optimizer_note(model: ModelGraph) -> str:
    """Why optimizer decay reaches every weight of a file, or `""` for live models."""
    if model.live:
        return ""
    return (
        " Exclusions set with `exclude_from_weight_decay()` are never saved, so after a "
        "reload Keras decays every trainable variable."
    )


def optimizer_label(model: ModelGraph) -> str:
    """`AdamW(weight_decay=0.004)` for messages."""
    optimizer = model.optimizer
    if optimizer is None:
        return "the optimizer"
    return f"{optimizer.class_name}(weight_decay={fmt(optimizer.weight_decay or 0.0)})"


def nearest_model(model: ModelGraph) -> dict[str, str]:
    """Layer path -> path of the innermost model containing it (`""` = the root)."""
    containers: dict[str, str] = {}
    stack: list[tuple[LayerNode, str]] = [(model.root, "")]
    while stack:
        node, container = stack.pop()
        containers[node.path] = container
        inner = node.path if node.is_model else container
        stack.extend((child, inner) for child in node.children)
    return containers


def freezing_root(model: ModelGraph, layer_path: str) -> LayerNode | None:
    """The outermost layer or model on the way to `layer_path` that is declared frozen."""
    chain: list[LayerNode] = []

    def descend(node: LayerNode) -> bool:
        chain.append(node)
        if node.path == layer_path or any(descend(child) for child in node.children):
            return True
        chain.pop()
        return False

    descend(model.root)
    return next((node for node in chain if not node.declared_trainable), None)

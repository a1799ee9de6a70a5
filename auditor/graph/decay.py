"""What decays a weight: its declared penalty, the optimizer's decoupled weight decay, and
the family it belongs to (one definition, shared by every rule that needs it).

"Decay" means any weight penalty: a non-zero L1/L2 regularizer on a trainable weight, or
optimizer weight decay that is not known to exclude the weight.
"""

from __future__ import annotations

import re
from enum import StrEnum

from auditor.graph.model import LayerNode, ModelGraph, OptimizerSpec, Role, WeightRef
from auditor.graph.paths import layer_of
from auditor.numbers import number

__all__ = [
    "ADAPTIVE_OPTIMIZERS",
    "NORMALIZATION_CLASSES",
    "Decay",
    "Family",
    "declaring_layer",
    "family_of",
    "optimizer_decay",
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
    return f"{optimizer.class_name}(weight_decay={number(optimizer.weight_decay or 0.0)})"

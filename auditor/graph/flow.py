"""Where a layer's output goes: the layers that consume it inside its container, and the
normalization layers that divide out any rescaling of it.

A normalization (`BatchNormalization`, `LayerNormalization`, `GroupNormalization`) makes
what follows blind to the scale of its input. When every path from a layer's output
reaches one through layers that pass a rescaling through unchanged (linear or shape-only
layers, ReLU), the layer's scale is free: a penalty on its kernel's norm or on its
output's size can shrink it without changing what the model computes.
"""

from __future__ import annotations

from auditor.graph.decay import NORMALIZATION_CLASSES
from auditor.graph.model import LayerNode

__all__ = ["HOMOGENEOUS", "consumers", "normalizers"]

#: Activations f with f(a*x) = a*f(x) for a > 0: a normalization after them still
#: cancels any rescaling of what comes before.
HOMOGENEOUS = frozenset({None, "linear", "relu"})

#: Layers that pass a rescaling of their input through unchanged (linear or shape-only).
_PASS_THROUGH_PREFIXES = (
    "ZeroPadding",
    "Cropping",
    "Reshape",
    "Flatten",
    "Permute",
    "Dropout",
    "SpatialDropout",
    "GaussianDropout",
    "MaxPool",
    "AveragePool",
    "UpSampling",
    "Identity",
    "ReLU",
)


def consumers(container: LayerNode) -> dict[str, list[LayerNode]]:
    """For each layer name in a (nested) model, the layers of it that take its output."""
    found: dict[str, list[LayerNode]] = {}
    for child in container.children:
        for source in child.inbound:
            found.setdefault(source, []).append(child)
    return found


def normalizers(start: str, taken_by: dict[str, list[LayerNode]], hops: int) -> list[LayerNode]:
    """The normalization layers reached from the output of layer `start`, when every path
    reaches one within `hops` pass-through layers; [] when any path escapes (to another
    layer, or out of the container as a model output)."""
    found: list[LayerNode] = []
    frontier = [(start, 0)]
    seen = {start}
    while frontier:
        name, depth = frontier.pop()
        nexts = taken_by.get(name, [])
        if not nexts:
            return []
        for node in nexts:
            if node.class_name in NORMALIZATION_CLASSES:
                found.append(node)
            elif _passes_scale(node) and depth < hops:
                if node.name not in seen:
                    seen.add(node.name)
                    frontier.append((node.name, depth + 1))
            else:
                return []
    return found


def _passes_scale(node: LayerNode) -> bool:
    if node.weights or node.is_model:
        return False
    if node.class_name == "Activation":
        return node.activation in HOMOGENEOUS
    return node.class_name.startswith(_PASS_THROUGH_PREFIXES)

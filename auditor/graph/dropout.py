"""Where a dropout layer sits: its rate and mask, the batch normalization its output
reaches, and the feature map it drops from.

Dropout's effect depends on its neighbours. Its output's variance in training differs
from inference, which a `BatchNormalization` downstream records in its moving statistics
(through linear layers and activations on the way, which carry the difference along). On
the feature map of a 2D or 3D convolution, neighbouring activations are correlated, so
dropping single values barely removes information. And a `noise_shape` of ones shares
one draw across those axes: `(None, 1, 1, C)` drops whole channels, `(None, 1, 1, 1)`
whole samples (stochastic depth, as EfficientNet's `block*_drop`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auditor.graph.flow import consumers
from auditor.graph.heads import Parents, predecessor
from auditor.graph.model import LayerNode

__all__ = [
    "BATCH_NORMALIZATION",
    "CONVOLUTIONS",
    "at_inference",
    "batch_norm_after",
    "feature_map_before",
    "mask_axes",
    "rate",
]

BATCH_NORMALIZATION = frozenset({"BatchNormalization", "SyncBatchNormalization"})
#: Convolutions by the rank of their output (batch and channels included).
CONVOLUTIONS = {
    **dict.fromkeys(
        ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "LocallyConnected2D"),
        4,
    ),
    **dict.fromkeys(("Conv3D", "Conv3DTranspose"), 5),
}
#: Layers with weights that map their input linearly before an activation.
_LINEAR_MAPS = frozenset(
    {"Dense", "EinsumDense", "Conv1D", "DepthwiseConv1D", "SeparableConv1D", "Conv1DTranspose"}
    | set(CONVOLUTIONS)
)
#: Weightless layers that carry a change of their input's variance on: shape, padding,
#: pooling, upsampling, activations, other dropout and noise, and merges that add or
#: stack their inputs.
_CARRIERS = (
    "ZeroPadding",
    "Cropping",
    "Reshape",
    "Flatten",
    "Permute",
    "RepeatVector",
    "MaxPool",
    "AveragePool",
    "GlobalMaxPool",
    "GlobalAveragePool",
    "UpSampling",
    "Identity",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "Dropout",
    "SpatialDropout",
    "GaussianDropout",
    "AlphaDropout",
    "GaussianNoise",
    "Add",
    "Subtract",
    "Average",
    "Concatenate",
)
#: Layers that keep a feature map's rank and neighbourhoods: activations, padding,
#: pooling and upsampling of the same rank.
_SPATIAL_KEEPERS = (
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "ZeroPadding",
    "Cropping",
    "MaxPool",
    "AveragePool",
    "UpSampling",
)


def rate(layer: LayerNode) -> float | None:
    """A dropout layer's `rate`, or None for anything but a number in [0, 1]."""
    value = layer.config.get("rate")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 1 else None


def mask_axes(layer: LayerNode) -> str:
    """How a dropout layer's mask is drawn: `"elementwise"` (no `noise_shape`, or every
    axis after the batch its own), `"samples"` (ones on every axis after the batch: whole
    samples dropped), or `"shared"` (ones on some axes: channels, time steps ...; what
    `SpatialDropout1D/2D/3D` always draws: whole channels)."""
    if layer.class_name.startswith("SpatialDropout"):
        return "shared"
    shape = layer.config.get("noise_shape")
    if not isinstance(shape, Sequence) or isinstance(shape, str) or len(shape) < 2:
        return "elementwise"
    rest = list(shape[1:])
    if all(_is_one(size) for size in rest):
        return "samples"
    return "shared" if any(_is_one(size) for size in rest) else "elementwise"


def at_inference(layer: LayerNode) -> bool:
    """Whether the graph calls the layer with `training=True` (active at inference)."""
    return any(kwargs.get("training") is True for kwargs in layer.call_kwargs)


def _is_one(size: Any) -> bool:
    return size == 1 and not isinstance(size, bool)


def batch_norm_after(
    container: LayerNode, layer: LayerNode, hops: int
) -> tuple[LayerNode, tuple[LayerNode, ...]] | None:
    """The first batch normalization of `container` that the output of `layer` reaches
    within `hops` layers that carry a change of variance on (linear maps, activations,
    shape, pooling, merges), with the layers between; None when none does."""
    taken_by = consumers(container)
    frontier: list[tuple[LayerNode, tuple[LayerNode, ...]]] = [(layer, ())]
    seen = {layer.name}
    while frontier:
        following: list[tuple[LayerNode, tuple[LayerNode, ...]]] = []
        for node, between in frontier:
            for child in taken_by.get(node.name, []):
                if child.class_name in BATCH_NORMALIZATION:
                    return child, between
                if len(between) < hops and child.name not in seen and _carries(child):
                    seen.add(child.name)
                    following.append((child, (*between, child)))
        frontier = following
    return None


def _carries(node: LayerNode) -> bool:
    if node.is_model:
        return False
    if node.class_name in _LINEAR_MAPS:
        return True
    return node.class_name.startswith(_CARRIERS) and (
        not node.weights or node.class_name == "PReLU"
    )


def feature_map_before(taken_from: Parents, layer: LayerNode, hops: int) -> LayerNode | None:
    """The 2D or 3D convolution whose feature map `layer` takes, through at most `hops`
    layers that keep its rank and neighbourhoods (activations, padding, pooling); None
    when the input is anything else."""
    node = predecessor(taken_from, layer)
    for _ in range(hops + 1):
        if node is None:
            return None
        if node.class_name in CONVOLUTIONS:
            return node
        if not node.class_name.startswith(_SPATIAL_KEEPERS) or node.class_name.endswith("1D"):
            return None
        node = predecessor(taken_from, node)
    return None

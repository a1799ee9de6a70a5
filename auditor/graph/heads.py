"""A model's output heads: for each output, the layer that computes it and how it ends.

A classifier's output is often not a `Dense(C, activation="softmax")` of its own: the
Keras mixed-precision guide ends with `Dense(C)` then `Activation("softmax",
dtype="float32")`, and models add weightless layers after the softmax (`Reshape`,
`ActivityRegularization`, `Dropout`). The head is found by walking back from each output
through such layers to the first layer with weights, collecting the activation on the
way.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.graph.model import LayerNode, ModelGraph
from auditor.graph.paths import layer_of

__all__ = ["Head", "output_heads", "output_layers", "predecessor"]

#: Layers that pass their input on unchanged in what a head computes (shape, noise, an
#: activity penalty), or only apply an activation.
_PASS_THROUGH = frozenset(
    {
        "Activation",
        "Softmax",
        "ActivityRegularization",
        "Reshape",
        "Flatten",
        "Permute",
        "Identity",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
    }
)


@dataclass(frozen=True, slots=True)
class Head:
    """One output of a model, as its last layer with weights computes it.

    Attributes:
        layer: LayerNode, the layer with weights that computes the output.
        units: int | None, its width (a Dense's `units`, a convolution's `filters`).
        activation: str | None, the last activation applied on the way to the output
            (the layer's own, or an `Activation`/`Softmax` layer's after it).
        via: the paths of the weightless layers between it and the output, in order.
    """

    layer: LayerNode
    units: int | None
    activation: str | None
    via: tuple[str, ...] = ()

    def evidence(self) -> str:
        """Where the activation comes from, for messages: `Dense `d` then `act``."""
        if not self.via:
            return f"{self.layer.class_name} `{self.layer.path}`"
        return f"{self.layer.class_name} `{self.layer.path}` then " + ", ".join(
            f"`{path}`" for path in self.via
        )


def output_layers(model: ModelGraph) -> list[LayerNode]:
    """The model's output layers (a Functional's `output_layers`, a Sequential's last)."""
    root = model.root
    if root.class_name == "Sequential" and root.children:
        return [root.children[-1]]
    names = []
    stack = [root.config.get("output_layers")]
    while stack:
        item = stack.pop()
        if isinstance(item, list) and item and isinstance(item[0], str):
            names.append(item[0])
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    found = [layer_of(model, name) for name in names]
    return [node for node in found if node is not None]


def output_heads(model: ModelGraph) -> list[Head]:
    """The head of each output whose walk back ends at a layer with weights."""
    heads = []
    for output in output_layers(model):
        head = _head(model, output)
        if head is not None:
            heads.append(head)
    return heads


def _head(model: ModelGraph, output: LayerNode) -> Head | None:
    activation: str | None = None
    via: list[str] = []
    node: LayerNode | None = output
    seen = 0
    while node is not None and seen < 64:  # a hostile config may loop
        seen += 1
        if node.class_name in _PASS_THROUGH:
            if activation is None and node.class_name == "Softmax":
                activation = "softmax"
            elif activation is None and node.class_name == "Activation":
                activation = node.activation
            via.insert(0, node.path)
            node = predecessor(model, node)
            continue
        if not node.weights:
            return None
        own = node.activation
        units = node.config.get("units", node.config.get("filters"))
        return Head(
            layer=node,
            units=units if isinstance(units, int) and not isinstance(units, bool) else None,
            activation=activation if activation is not None else own,
            via=tuple(via),
        )
    return None


def predecessor(model: ModelGraph, node: LayerNode) -> LayerNode | None:
    """The one layer whose output feeds `node` in its container: the previous layer of a
    Sequential, the single inbound layer of a Functional; None otherwise."""
    parent_path = node.path.rsplit("/", 1)[0] if "/" in node.path else ""
    parent = layer_of(model, parent_path)
    if parent is None:
        return None
    siblings = parent.children
    if parent.class_name == "Sequential":
        index = next((i for i, child in enumerate(siblings) if child is node), None)
        return siblings[index - 1] if index else None
    if len(node.inbound) != 1:
        return None
    return next((child for child in siblings if child.name == node.inbound[0]), None)

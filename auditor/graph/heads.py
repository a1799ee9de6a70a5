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

__all__ = [
    "DROPOUT",
    "REARRANGING",
    "STOCHASTIC",
    "Head",
    "Parents",
    "output_heads",
    "output_layers",
    "parents",
    "predecessor",
]

#: Layers that hold the same values as their input, rearranged.
REARRANGING = frozenset({"Reshape", "Flatten", "Permute", "Identity"})
#: Layers that drop a fraction `rate` of their input while training.
DROPOUT = frozenset(
    {
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianDropout",
        "AlphaDropout",
    }
)
#: Layers that change their input at random while training (and pass it at inference).
STOCHASTIC = DROPOUT | {"GaussianNoise"}

#: Layers that pass their input on unchanged in what a head computes (shape, noise, an
#: activity penalty), or only apply an activation.
_PASS_THROUGH = REARRANGING | STOCHASTIC | {"Activation", "Softmax", "ActivityRegularization"}


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
    taken_from = parents(model)
    for output in output_layers(model):
        head = _head(taken_from, output)
        if head is not None:
            heads.append(head)
    return heads


def _head(taken_from: Parents, output: LayerNode) -> Head | None:
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
            node = predecessor(taken_from, node)
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


class Parents:
    """Each layer's container, its place there and its siblings by name: built once per
    model, so that `predecessor` costs the same on a layer of a model of any size."""

    def __init__(self, model: ModelGraph) -> None:
        self.place: dict[int, tuple[LayerNode, int]] = {}
        self.named: dict[tuple[int, str], LayerNode] = {}
        for node in model.root.walk():
            for index, child in enumerate(node.children):
                self.place[id(child)] = (node, index)
                self.named.setdefault((id(node), child.name), child)


def parents(model: ModelGraph) -> Parents:
    """The `Parents` of `model`."""
    return Parents(model)


def predecessor(taken_from: Parents, node: LayerNode) -> LayerNode | None:
    """The one layer whose output feeds `node` in its container (`taken_from`, from
    `parents`): the previous layer of a Sequential, the single inbound layer of a
    Functional; None otherwise."""
    found = taken_from.place.get(id(node))
    if found is None:
        return None
    parent, index = found
    if parent.class_name == "Sequential":
        return parent.children[index - 1] if index else None
    if len(node.inbound) != 1:
        return None
    return taken_from.named.get((id(parent), node.inbound[0]))

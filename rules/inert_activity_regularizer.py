"""REG013 inert-activity-regularizer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from auditor.graph.declared import Regularizer
from auditor.graph.flow import HOMOGENEOUS, consumers, normalizers
from auditor.graph.heads import REARRANGING, Parents, parents, predecessor
from auditor.graph.model import LayerNode, ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions


class InertActivityRegularizer(Rule):
    """## What it does
    Checks each activity regularizer (a layer's `activity_regularizer`, or an
    `ActivityRegularization` layer) for placements where the penalty cannot regularize:
    L1 on softmax outputs, and any penalty on an output that a normalization divides out.

    In detail:

    - an L1 penalty on softmax outputs (the layer's own softmax, or an
      `ActivityRegularization` after one, through reshaping layers only);
    - any penalty on the output of a layer whose output goes only into a normalization
      layer (`BatchNormalization`, `LayerNormalization`, `GroupNormalization`), possibly
      through linear or shape-only layers, when the layer can rescale its output (it has
      trainable weights and a linear or ReLU activation).

    ## Why is this bad?
    Softmax outputs are non-negative and sum to 1, so their L1 norm is the same for every
    input: the penalty adds a constant to the loss, has a zero gradient, and only inflates
    the reported loss. In front of a normalization, the layer can shrink its output by
    scaling its weights down without changing anything the model computes after the
    normalization: the penalty drives that scale toward the normalization's epsilon rather
    than constraining the activations the model uses.

    ## Example
    ```python
    outputs = keras.layers.Dense(10, activation="softmax", activity_regularizer="l1")(x)
    ```

    Use instead:
    ```python
    x = keras.layers.Dense(64, activation="relu", activity_regularizer="l1")(x)  # sparse
    outputs = keras.layers.Dense(10, activation="softmax")(x)  # hidden activations
    ```

    ## Options
    - `max_hops` (int, default 4): how many pass-through layers may sit between the layer
      and the normalization.

    ## References
    - keras-team/keras `keras/src/layers/layer.py` (activity regularizers: the penalty
      on each output, divided by the batch size)
    - keras-team/keras `keras/src/layers/regularization/activity_regularization.py`
    """

    code: ClassVar[str] = "REG013"
    name: ClassVar[str] = "inert-activity-regularizer"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    class Options(RuleOptions):
        """Thresholds of REG013."""

        max_hops: int = Field(default=4, ge=0)

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        taken_from = parents(model)
        for container in model.root.walk():
            if not container.is_model or not container.children:
                continue
            taken_by = consumers(container)
            for layer in container.children:
                penalty = layer.activity_regularizer
                if penalty is None or not penalty.is_penalty:
                    continue
                softmax = _softmax_source(taken_from, layer)
                if softmax is not None and penalty.l1 > 0:
                    yield self._constant(ctx, layer, penalty, softmax)
                    continue
                if not _rescalable(taken_from, layer):
                    continue
                norms = normalizers(layer.name, taken_by, ctx.options.max_hops)
                if norms:
                    yield self._normalized(ctx, layer, penalty, norms)

    def _constant(
        self, ctx: RuleContext, layer: LayerNode, penalty: Regularizer, softmax: LayerNode
    ) -> Finding:
        source = "its own softmax" if softmax is layer else f"the softmax of `{softmax.path}`"
        rest = f" Only its L2 part (l2={penalty.l2:g}) acts." if penalty.l2 > 0 else " It is inert."
        return self.finding(
            ctx,
            f"The activity penalty {penalty.describe()} of `{layer.path}` takes the L1 norm "
            f"of softmax outputs ({source}), which is 1 for every input: it adds the constant "
            f"l1={penalty.l1:g} to the loss with a zero gradient.{rest}",
            layer=layer,
            config_key=layer.activity_key,
            fix="Move the L1 activity penalty to a hidden layer whose activations should be "
            "sparse, or drop it.",
            details={"penalty": penalty.describe(), "softmax": softmax.path},
        )

    def _normalized(
        self, ctx: RuleContext, layer: LayerNode, penalty: Regularizer, norms: list[LayerNode]
    ) -> Finding:
        norm = norms[0]
        return self.finding(
            ctx,
            f"The activity penalty {penalty.describe()} of `{layer.path}` does not constrain "
            f"what the model computes: its output goes only into {norm.class_name} "
            f"`{norm.path}`, which divides out its scale, so training shrinks the output by "
            "scaling the layer's weights down with no change to any prediction.",
            layer=layer,
            config_key=layer.activity_key,
            fix="Put the activity penalty after the normalization, or drop it.",
            details={"penalty": penalty.describe(), "normalization": [n.path for n in norms]},
        )


def _softmax_source(taken_from: Parents, layer: LayerNode) -> LayerNode | None:
    """The layer whose softmax `layer` outputs, rearranged at most; None otherwise."""
    node: LayerNode | None = layer
    for _ in range(16):  # a hostile config may loop
        if node is None:
            return None
        if node.class_name == "Softmax" or node.activation == "softmax":
            return node
        # The sum of a softmax's outputs survives rearranging layers (dropout and noise
        # change it while training).
        if node is not layer and node.class_name not in REARRANGING:
            return None
        if node is layer and node.class_name != "ActivityRegularization":
            return None
        node = predecessor(taken_from, node)
    return None


def _rescalable(taken_from: Parents, layer: LayerNode) -> bool:
    """True when the output of `layer` scales with its weights: trainable weights and a
    positively homogeneous activation (an `ActivityRegularization` layer passes on its
    input, so the layer before it decides)."""
    if layer.class_name == "ActivityRegularization":
        before = predecessor(taken_from, layer)
        return before is not None and before is not layer and _scales(before)
    return _scales(layer)


def _scales(layer: LayerNode) -> bool:
    declared = layer.config.get("activation")  # None: the layer has no activation
    return (
        any(weight.trainable for weight in layer.weights)
        and (declared is None or layer.activation in HOMOGENEOUS - {None})
        and "recurrent_activation" not in layer.config
    )

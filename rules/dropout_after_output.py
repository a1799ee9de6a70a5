"""DRP004 dropout-after-output."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.heads import (
    REARRANGING,
    STOCHASTIC,
    Parents,
    output_layers,
    parents,
    predecessor,
)
from auditor.graph.model import LayerNode, ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext

#: What the outputs of these activations mean, which the layer breaks.
_MEANING = {
    "softmax": "the probabilities no longer sum to 1 in training",
    "sigmoid": "the probabilities leave [0, 1] in training",
}


class DropoutAfterOutput(Rule):
    """## What it does
    Checks each output of the model for a dropout or noise layer (`Dropout`,
    `SpatialDropout1D/2D/3D`, `GaussianDropout`, `AlphaDropout`, `GaussianNoise`) that is
    the output layer itself, or followed only by layers that rearrange values (`Reshape`,
    `Flatten`, `Permute`). When what it perturbs is a softmax or sigmoid, the finding says
    so.

    ## Why is this bad?
    A dropout or noise layer at the output perturbs the predictions themselves while
    training: the loss is computed on randomly zeroed and rescaled (or noised) outputs,
    so the model learns to fit the noise, and after a softmax or sigmoid the training
    outputs are not probabilities any more (a dropped softmax no longer sums to 1, a
    rescaled sigmoid exceeds 1), while at inference the layer does nothing. Dropout
    regularizes hidden representations; it belongs before the output layer.

    ## Example
    ```python
    x = keras.layers.Dense(10, activation="softmax")(x)
    outputs = keras.layers.Dropout(0.5)(x)
    ```

    Use instead:
    ```python
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    ```

    ## Options
    None.

    ## References
    - Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
      Overfitting", JMLR 15, 2014 (dropout on input and hidden units, not on outputs)
    - keras-team/keras `keras/src/layers/regularization/dropout.py` (kept units scaled by
      1 / (1 - rate) in training; the identity at inference)
    """

    code: ClassVar[str] = "DRP004"
    name: ClassVar[str] = "dropout-after-output"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        taken_from = parents(model)
        reported: set[int] = set()
        for output in output_layers(model):
            layer = _stochastic_before(taken_from, output)
            if layer is None or id(layer) in reported:
                continue
            reported.add(id(layer))
            source = predecessor(taken_from, layer)
            activation = _activation(source)
            meaning = _MEANING.get(activation or "")
            where = (
                "is the model's output"
                if layer is output
                else f"comes before the model's output `{output.path}` with nothing but "
                "rearranging layers between"
            )
            perturbs = (
                f"It perturbs the {activation} outputs of `{source.path}`: {meaning}, and the "
                "loss is computed on them."
                if meaning is not None and source is not None
                else "It perturbs the predictions the loss is computed on."
            )
            yield self.finding(
                ctx,
                f"`{layer.path}` ({layer.class_name}) {where}. {perturbs} At inference it "
                "does nothing.",
                layer=layer,
                config_key=layer.setting_key("rate" if "rate" in layer.config else "stddev"),
                fix="Move the dropout or noise before the output layer (onto the hidden "
                "representation it should regularize), or remove it.",
                details={"output": output.path, "activation": activation},
            )


def _activation(layer: LayerNode | None) -> str | None:
    """The activation a layer's outputs come out of (a `Softmax` layer's included)."""
    if layer is None:
        return None
    return "softmax" if layer.class_name == "Softmax" else layer.activation


def _stochastic_before(taken_from: Parents, output: LayerNode) -> LayerNode | None:
    """The dropout or noise layer that is `output`, or that only rearranging layers
    separate from it; else None."""
    node: LayerNode | None = output
    for _ in range(64):  # a hostile config may loop
        if node is None:
            return None
        if node.class_name in STOCHASTIC:
            return node
        if node.class_name not in REARRANGING:
            return None
        node = predecessor(taken_from, node)
    return None

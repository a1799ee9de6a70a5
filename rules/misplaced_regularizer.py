"""REG011 misplaced-regularizer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.declared import UnusedRegularizer
from auditor.graph.model import LayerNode, ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class MisplacedRegularizer(Rule):
    """## What it does
    Checks for regularizers set where no variable of the layer reads them: a
    `kernel_regularizer` on a `DepthwiseConv2D` or `SeparableConv2D` (whose weights take
    `depthwise_regularizer` / `pointwise_regularizer`), a `bias_regularizer` on a layer
    built with `use_bias=False`, or a `*_regularizer` attribute assigned to a layer that
    has no such setting at all (a `BatchNormalization` given a `kernel_regularizer`).
    Layers without weights (`Activation`, `Flatten`) are not reported: nothing about them
    looks regularized.

    On a live model the layer objects' attributes are checked as well as their config; on
    a file, the config (where older Keras versions could write such entries).

    ## Why is this bad?
    It is a no-op that looks like coverage. The common post-hoc loop
    `for layer in model.layers: layer.kernel_regularizer = ...` silently skips every
    depthwise filter of a MobileNet, and the code reads as if they were regularized.

    ## Example
    ```python
    for layer in model.layers:
        layer.kernel_regularizer = keras.regularizers.L2(1e-4)  # DepthwiseConv2D ignores it
    ```

    Use instead:
    ```python
    from auditor.fix import apply_regularization

    apply_regularization(model, l2=1e-4)  # uses each layer's own regularizer settings
    ```

    ## Options
    None.

    ## References
    - tensorflow/tensorflow#41093 (DepthwiseConv2D / SeparableConv2D and `kernel_regularizer`)
    - "Keras Hack #1" (2019), regularizers on pre-trained models
    """

    code: ClassVar[str] = "REG011"
    name: ClassVar[str] = "misplaced-regularizer"
    severity: ClassVar[Severity] = Severity.ERROR
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        if not layer.unused_regularizers or not any(True for _ in layer.all_weights()):
            return  # a weightless layer (Activation, Flatten) promises no coverage
        settings = [_spelled(entry) for entry in layer.unused_regularizers]
        usable = sorted(
            {
                w.regularizer_key.rsplit(".", 1)[-1]
                for w in layer.all_weights()
                if w.regularizer_key and w.trainable
            }
        )
        takes = (
            f"{layer.class_name} takes {', '.join(f'`{k}`' for k in usable)}"
            if usable
            else f"{layer.class_name} `{layer.path}` has no trainable weight to regularize"
        )
        first = layer.unused_regularizers[0]
        yield self.finding(
            ctx,
            f"`{layer.path}` sets {', '.join(settings)}, which no variable of the layer "
            f"reads: a no-op that looks like regularization. {takes}.",
            layer=layer,
            config_key=None if first.attribute else first.key,
            fix=(
                f"Use {', '.join(f'`{k}`' for k in usable)} instead"
                if usable
                else "Remove the setting"
            )
            + ", or call `auditor.fix.apply_regularization(model, ...)`, which uses each "
            "layer's own settings.",
            details={
                "settings": {
                    e.setting: e.regularizer.describe() for e in layer.unused_regularizers
                },
                "attribute": [e.setting for e in layer.unused_regularizers if e.attribute],
                "usable": usable,
            },
        )


def _spelled(entry: UnusedRegularizer) -> str:
    where = "the attribute " if entry.attribute else ""
    return f"{where}{entry.setting}={entry.regularizer.describe()}"

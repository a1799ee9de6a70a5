"""REG007 frozen-regularizer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import LayerNode, ModelGraph, WeightRef
from auditor.graph.paths import freezing_root, layer_of, paths_text
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class FrozenRegularizer(Rule):
    """## What it does
    Checks for regularizers on weights that do not train: frozen layers
    (`trainable=False`), layers inside a frozen nested model, and non-trainable variables.
    One finding per frozen layer or model, listing its regularized weights.

    ## Why is this bad?
    The config says "regularized" but nothing is regularized. Keras 3 collects
    regularization losses from trainable weights only, so the regularizer is silently
    dropped. Keras 2 (tf.keras) still adds the penalty to the reported loss, as a constant
    with zero gradient: the loss looks higher and nothing changes. The message says which
    applies, from the Keras version that wrote the file.

    ## Example
    ```python
    base = keras.Sequential([keras.layers.Dense(64, kernel_regularizer="l2")])
    base.trainable = False
    ```

    Use instead:
    ```python
    base = keras.Sequential([keras.layers.Dense(64)])  # no regularizer on frozen layers
    base.trainable = False
    ```

    ## Options
    None.

    ## References
    - Keras 3 `Layer._get_regularization_losses` (trainable weights only)
    - allennlp/allennlp#2790 (frozen L2 inflating the logged loss)
    """

    code: ClassVar[str] = "REG007"
    name: ClassVar[str] = "frozen-regularizer"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        by_root: dict[str, tuple[LayerNode, list[WeightRef]]] = {}
        for weight in model.weights():
            reg = weight.regularizer
            if weight.trainable or reg is None or reg.is_inert:
                continue
            root = freezing_root(model, weight.layer_path) or layer_of(model, weight.layer_path)
            if root is None:
                continue
            by_root.setdefault(root.path, (root, []))[1].append(weight)
        keras2 = model.source.keras_major == 2
        for root, weights in by_root.values():
            penalty = sum(
                w.regularizer.penalty(s.sum_squares, s.sum_abs)
                for w in weights
                if w.regularizer is not None and (s := ctx.stats.get(w.path)) is not None
            )
            if keras2:
                effect = (
                    "Keras 2 still adds their penalty to the reported loss as a constant with "
                    "zero gradient"
                    + (f" (here {number(penalty)})" if penalty else "")
                    + ": the loss looks higher and nothing is regularized."
                )
            else:
                effect = (
                    "Keras 3 regularizes trainable weights only, so these regularizers are "
                    "silently dropped although the config declares them."
                )
            kind = "model" if root.is_model else "layer"
            yield self.finding(
                ctx,
                f"Frozen {kind} `{root.display_path}` keeps {len(weights)} regularizer(s) on "
                f"weights that do not train: {paths_text([w.shown for w in weights])}. {effect}",
                layer=root,
                weight=weights[0] if len(weights) == 1 else None,
                config_key=weights[0].regularizer_key,
                fix="Remove the regularizers of frozen layers (or unfreeze them if they should "
                "train; then the regularizers apply again).",
                details={
                    "weights": [w.path for w in weights],
                    "keras_version": model.source.keras_version,
                    "constant_penalty": penalty,
                },
            )

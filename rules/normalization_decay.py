"""REG005 normalization-decay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.decay import NORMALIZATION_CLASSES, is_decayed_by_optimizer
from auditor.graph.model import LayerNode, ModelGraph, Role
from auditor.results.findings import Finding, Severity
from auditor.rules._optimizer_decay import listed, optimizer_decay_finding
from auditor.rules.base import Rule, RuleContext

_AFFINE = (Role.GAMMA, Role.BETA)


class NormalizationDecay(Rule):
    """## What it does
    Checks for weight decay on the `gamma` (scale) and `beta` (offset) of
    `BatchNormalization`, `LayerNormalization` and `GroupNormalization` layers: a
    `gamma_regularizer` / `beta_regularizer`, or optimizer `weight_decay` that reaches them.

    ## Why is this bad?
    Normalization makes the preceding weights scale-invariant; `gamma` and `beta` are the
    only parameters that set the scale and offset of the normalized activations. Decaying
    them pulls every layer's output towards zero scale and zero offset, which regularizes
    nothing useful and degrades accuracy. The common recipe ("no bias decay") applies decay
    to conv and dense kernels only.

    ## Example
    ```python
    x = keras.layers.BatchNormalization(gamma_regularizer="l2", beta_regularizer="l2")(x)
    ```

    Use instead:
    ```python
    x = keras.layers.BatchNormalization()(x)
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta"])  # with weight_decay
    ```

    ## Options
    None.

    ## References
    - van Laarhoven, *L2 Regularization versus Batch and Weight Normalization*
      (arXiv:1706.05350)
    - He et al., *Bag of Tricks for Image Classification* (arXiv:1812.01187), "no bias decay"
    """

    code: ClassVar[str] = "REG005"
    name: ClassVar[str] = "normalization-decay"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"config"})
    applies_to: ClassVar[tuple[str, ...]] = tuple(sorted(NORMALIZATION_CLASSES))

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        decayed = [w for w in layer.weights if w.role in _AFFINE and w.trainable and w.penalized]
        if not decayed:
            return
        received = ", ".join(
            f"{w.name}_regularizer={w.regularizer.describe()}" for w in decayed if w.regularizer
        )
        yield self.finding(
            ctx,
            f"{layer.class_name} `{layer.path}` decays its "
            f"{' and '.join(w.name for w in decayed)}. Received: {received}",
            layer=layer,
            weight=decayed[0],
            fix="Remove `gamma_regularizer` and `beta_regularizer`; normalization parameters "
            "are not decayed.",
            details={"weights": [w.path for w in decayed]},
        )

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        decayed = [
            w
            for node in model.layers()
            if node.class_name in NORMALIZATION_CLASSES
            for w in node.weights
            if w.role in _AFFINE and is_decayed_by_optimizer(w, model.optimizer)
        ]
        if not decayed:
            return
        layers = sorted({w.layer_path for w in decayed})
        yield optimizer_decay_finding(
            self,
            ctx,
            model,
            decayed,
            f"gamma/beta of {len(layers)} normalization layer(s){listed(layers)}",
            fix="Before the first `fit()`, call `optimizer.exclude_from_weight_decay("
            'var_names=["gamma", "beta"])`.',
        )

"""REG006 bias-decay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.decay import is_decayed_by_optimizer
from auditor.graph.model import LayerNode, ModelGraph, Role
from auditor.results.findings import Finding, Severity
from auditor.rules._optimizer_decay import listed, optimizer_decay_finding
from auditor.rules.base import Rule, RuleContext


class BiasDecay(Rule):
    """## What it does
    Checks for weight decay on biases: a `bias_regularizer`, or optimizer `weight_decay`
    that reaches biases.

    ## Why is this bad?
    A bias adds one parameter per unit and does not grow the function's capacity the way a
    kernel does, so decaying it buys no regularization and pulls activations towards zero.
    The widely used "no bias decay" recipe decays conv and dense kernels only.

    ## Example
    ```python
    keras.layers.Dense(10, kernel_regularizer="l2", bias_regularizer="l2")
    ```

    Use instead:
    ```python
    keras.layers.Dense(10, kernel_regularizer=keras.regularizers.L2(1e-4))
    ```

    ## Options
    None.

    ## References
    - He et al., *Bag of Tricks for Image Classification* (arXiv:1812.01187), "no bias decay"
    """

    code: ClassVar[str] = "REG006"
    name: ClassVar[str] = "bias-decay"
    severity: ClassVar[Severity] = Severity.INFO
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        for weight in layer.weights:
            if weight.role is Role.BIAS and weight.trainable and weight.penalized:
                assert weight.regularizer is not None
                yield self.finding(
                    ctx,
                    f"Bias `{weight.shown}` is decayed by its regularizer. "
                    f"Received: bias_regularizer={weight.regularizer.describe()}",
                    layer=layer,
                    weight=weight,
                    fix="Set `bias_regularizer=None`.",
                )

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        decayed = [
            w
            for w in model.weights()
            if w.role is Role.BIAS and is_decayed_by_optimizer(w, model.optimizer)
        ]
        if not decayed:
            return
        yield optimizer_decay_finding(
            self,
            ctx,
            model,
            decayed,
            f"{len(decayed)} bias(es){listed([w.shown for w in decayed])}",
            fix="Before the first `fit()`, call `optimizer.exclude_from_weight_decay("
            'var_names=["bias"])`.',
        )

"""REG004 depthwise-decay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.decay import is_decayed_by_optimizer
from auditor.graph.model import LayerNode, ModelGraph, Role
from auditor.results.findings import Finding, Severity
from auditor.rules._optimizer_decay import listed, optimizer_decay_finding
from auditor.rules.base import Rule, RuleContext


class DepthwiseDecay(Rule):
    """## What it does
    Checks for weight decay on depthwise kernels: a `depthwise_regularizer` on
    `DepthwiseConv1D/2D` or `SeparableConv1D/2D`, or optimizer `weight_decay` that reaches
    depthwise kernels because nothing excludes them.

    ## Why is this bad?
    A depthwise filter has very few parameters (a 3x3 filter per channel), so a penalty
    sized for dense or pointwise kernels shrinks it far more in relative terms. The
    MobileNets authors found it "important to put very little or no weight decay (l2
    regularization) on the depthwise filters", and the reference implementations
    (TF-slim, the TF Model Garden) default to `regularize_depthwise=False`.

    ## Example
    ```python
    x = keras.layers.DepthwiseConv2D(3, depthwise_regularizer=keras.regularizers.L2(4e-5))(x)
    ```

    Use instead:
    ```python
    x = keras.layers.DepthwiseConv2D(3)(x)  # regularize the pointwise 1x1 conv instead
    ```

    ## Options
    None.

    ## References
    - Howard et al., *MobileNets* (arXiv:1704.04861), section 3.2
    - TF-slim `mobilenet_v1_arg_scope(regularize_depthwise=False)`
    """

    code: ClassVar[str] = "REG004"
    name: ClassVar[str] = "depthwise-decay"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        for weight in layer.weights:
            if weight.role is Role.DEPTHWISE_KERNEL and weight.trainable and weight.penalized:
                assert weight.regularizer is not None
                spelled = weight.regularizer.describe()
                yield self.finding(
                    ctx,
                    f"Depthwise kernel `{weight.shown}` is decayed by its regularizer. "
                    f"Received: depthwise_regularizer={spelled}",
                    layer=layer,
                    weight=weight,
                    fix="Set `depthwise_regularizer=None`; keep the penalty on the pointwise "
                    "(1x1) kernels.",
                    details={
                        "regularizer": spelled,
                        "l1": weight.regularizer.l1,
                        "l2": weight.regularizer.l2,
                    },
                )

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        decayed = [
            w
            for w in model.weights()
            if w.role is Role.DEPTHWISE_KERNEL and is_decayed_by_optimizer(w, model.optimizer)
        ]
        if not decayed:
            return
        yield optimizer_decay_finding(
            self,
            ctx,
            model,
            decayed,
            f"{len(decayed)} depthwise kernel(s){listed([w.shown for w in decayed])}",
            fix="Before the first `fit()`, call `optimizer.exclude_from_weight_decay("
            "var_list=[...])` with each depthwise layer's kernel (Keras 3 names it `kernel`, "
            "so a `var_names` pattern cannot single it out).",
        )

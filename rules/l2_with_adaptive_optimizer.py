"""WD002 l2-with-adaptive-optimizer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.decay import ADAPTIVE_OPTIMIZERS
from auditor.graph.model import ModelGraph
from auditor.graph.paths import paths_text
from auditor.graph.version_bugs import unapplied_penalties
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class L2WithAdaptiveOptimizer(Rule):
    """## What it does
    Checks for L2 regularizers on trainable weights trained by an adaptive optimizer
    (Adam, Adamax, Nadam, RMSprop, Adagrad, Adadelta, Adafactor, Lion, ...) that applies no
    decoupled weight decay of its own. Penalties that the Keras version which wrote the
    file never applied (REG014) are not listed.

    ## Why is this bad?
    With plain SGD, `L2(l2)` is weight decay (it equals `weight_decay = 2 * l2`). An
    adaptive optimizer divides each parameter's gradient, the L2 term included, by that
    parameter's running gradient scale, so weights with large gradients are barely decayed
    and the rest are over-decayed. Loshchilov & Hutter show that decoupling the decay
    from the gradient (AdamW) "substantially improves Adam's generalization".

    ## Example
    ```python
    x = keras.layers.Dense(64, kernel_regularizer=keras.regularizers.L2(1e-4))(x)
    model.compile(optimizer="adam", loss="mse")
    ```

    Use instead:
    ```python
    x = keras.layers.Dense(64)(x)
    optimizer = keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.004)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(optimizer=optimizer, loss="mse")
    ```

    ## Options
    None.

    ## References
    - Loshchilov & Hutter, *Decoupled Weight Decay Regularization* (arXiv:1711.05101)
    - Keras 3 `BaseOptimizer._apply_weight_decay` (`w -= w * weight_decay * lr`)
    """

    code: ClassVar[str] = "WD002"
    name: ClassVar[str] = "l2-with-adaptive-optimizer"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"compile"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        optimizer = model.optimizer
        if optimizer is None or optimizer.decays:
            return
        if optimizer.class_name.lower() not in ADAPTIVE_OPTIMIZERS:
            return
        unapplied = unapplied_penalties(model)  # declared, never applied by that Keras
        penalized = [
            (w, w.penalty.l2)
            for w in model.weights()
            if w.trainable
            and w.penalty is not None
            and w.penalty.l2 > 0
            and w.path not in unapplied
        ]
        if not penalized:
            return
        common, _ = Counter(l2 for _, l2 in penalized).most_common(1)[0]
        values = sorted({l2 for _, l2 in penalized})
        paths = [w.path for w, _ in penalized]
        target = "AdamW" if optimizer.class_name.lower() == "adam" else optimizer.class_name
        rate = (
            f"learning_rate={number(optimizer.learning_rate)}, " if optimizer.learning_rate else ""
        )
        yield self.finding(
            ctx,
            f"{len(penalized)} trainable weight(s) carry L2 penalties "
            f"({', '.join(f'L2({number(v)})' for v in values[:4])}) under {optimizer.class_name}, "
            "which rescales every gradient per parameter, the L2 term included: this is not "
            f"weight decay. Weights: {paths_text([w.shown for w, _ in penalized])}.",
            layer_path="",
            layer_class=model.root.class_name,
            config_key="compile_config.optimizer",
            fix=f"Remove the L2 regularizers and decay in the optimizer: "
            f"`keras.optimizers.{target}({rate}weight_decay=...)` applies "
            "`w -= w * weight_decay * lr` each step. The SGD equivalent of "
            f"L2({number(common)}) is weight_decay={number(2 * common)}; AdamW's default is 0.004. "
            "Exclude biases and normalization with "
            '`optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])`.',
            details={
                "optimizer": optimizer.class_name,
                "weights": paths,
                "l2": values,
                "sgd_equivalent_weight_decay": 2 * common,
            },
        )

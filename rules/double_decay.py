"""WD001 double-decay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.decay import is_decayed_by_optimizer, optimizer_label
from auditor.graph.model import ModelGraph
from auditor.graph.paths import paths_text
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class DoubleDecay(Rule):
    """## What it does
    Checks for weights decayed twice: the optimizer applies decoupled `weight_decay` to
    them and they also carry an L1/L2 regularizer. The finding gives the combined strength.

    ## Why is this bad?
    Keras 3 optimizers apply `weight_decay` as `w -= w * weight_decay * lr` each step; an
    `L2(l2)` regularizer adds `2 * l2 * w` to the gradient on top. The two stack, so the
    weights shrink harder than either setting says, and tuning one of them no longer means
    what the experiment log says. Decoupled decay exists to replace L2, not to join it.

    ## Example
    ```python
    model.add(keras.layers.Dense(64, kernel_regularizer=keras.regularizers.L2(1e-4)))
    model.compile(optimizer=keras.optimizers.AdamW(weight_decay=0.004), loss="mse")
    ```

    Use instead:
    ```python
    model.add(keras.layers.Dense(64))
    model.compile(optimizer=keras.optimizers.AdamW(weight_decay=0.004), loss="mse")
    ```

    ## Options
    None.

    ## References
    - Loshchilov & Hutter, *Decoupled Weight Decay Regularization* (arXiv:1711.05101)
    - keras-adamw README: set L2 to zero with its decays, or weights are "over-decayed"
    """

    code: ClassVar[str] = "WD001"
    name: ClassVar[str] = "double-decay"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"compile"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        optimizer = model.optimizer
        if optimizer is None or not optimizer.decays:
            return
        twice = [
            (w, w.penalty)
            for w in model.weights()
            if w.penalty is not None and is_decayed_by_optimizer(w, optimizer)
        ]
        if not twice:
            return
        decay = optimizer.weight_decay or 0.0
        l2s = sorted({p.l2 for _, p in twice})
        l1s = sorted({p.l1 for _, p in twice if p.l1 > 0})
        combined = sorted({decay + 2 * l2 for l2 in l2s})
        spread = (
            number(combined[0])
            if len(combined) == 1
            else f"{number(combined[0])}..{number(combined[-1])}"
        )
        l2_text = ", ".join(f"2*{number(v)}" for v in l2s[:4] if v > 0) or "0"
        paths = [w.path for w, _ in twice]
        l1_note = f" plus L1 ({', '.join(number(v) for v in l1s[:4])})" if l1s else ""
        yield self.finding(
            ctx,
            f"{optimizer_label(model)} also decays {len(twice)} weight(s) that carry "
            f"L1/L2 regularizers: {paths_text([w.shown for w, _ in twice])}. Per unit of "
            f"learning rate they shrink by weight_decay + 2*l2 = {number(decay)} + {l2_text} "
            f"= {spread} "
            f"(the SGD-equivalent strength{l1_note}), not the {number(decay)} the optimizer "
            "says.",
            layer_path="",
            layer_class=model.root.class_name,
            config_key="compile_config.optimizer.config.weight_decay",
            fix="Keep one mechanism: remove the regularizers "
            "(`auditor.fix.remove_regularization(model)`, or `audit fix MODEL -o OUT "
            "--remove` for a file) or compile with `weight_decay=None`.",
            details={
                "weights": paths,
                "weight_decay": decay,
                "l2": l2s,
                "l1": l1s,
                "combined_sgd_equivalent": combined,
            },
        )

"""WD006 legacy-decay-is-lr-decay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import ModelGraph
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class LegacyDecayIsLrDecay(Rule):
    """## What it does
    Checks for a legacy optimizer config with `decay > 0`.

    ## Why is this bad?
    In Keras 2 optimizers, `decay` is learning-rate time decay,
    `lr / (1 + decay * iterations)`, not weight decay, although it is often set as if it
    were. Keras 3 drops the argument when it loads such an optimizer ("Argument `decay` is
    no longer supported and will be ignored"), so a resumed run also trains with a
    different learning-rate schedule than the one that produced the weights.

    ## Example
    ```python
    keras.optimizers.Adam(lr=1e-3, decay=1e-4)  # Keras 2
    ```

    Use instead:
    ```python
    schedule = keras.optimizers.schedules.InverseTimeDecay(1e-3, decay_steps=1, decay_rate=1e-4)
    keras.optimizers.Adam(learning_rate=schedule)  # or weight_decay=... for weight decay
    ```

    ## Options
    None.

    ## References
    - Keras 2 optimizer docs (`decay`: learning rate decay over each update)
    - Keras 3 `BaseOptimizer.__init__` (ignores `decay` with a warning)
    """

    code: ClassVar[str] = "WD006"
    name: ClassVar[str] = "legacy-decay-is-lr-decay"
    severity: ClassVar[Severity] = Severity.INFO
    requires: ClassVar[frozenset[str]] = frozenset({"compile"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        optimizer = model.optimizer
        if optimizer is None or not optimizer.legacy_decay or optimizer.legacy_decay <= 0:
            return
        decay = optimizer.legacy_decay
        rate = optimizer.learning_rate
        later = (
            f" (from {number(rate)} to {number(rate / (1 + decay * 10_000))} after 10,000 steps)"
            if rate
            else ""
        )
        yield self.finding(
            ctx,
            f"{optimizer.class_name}(decay={number(decay)}) is learning-rate time decay, "
            f"lr / (1 + decay * iterations){later}, not weight decay; Keras 3 ignores "
            f"`decay` when it loads this optimizer. Received: decay={number(decay)}",
            layer_path="",
            layer_class=model.root.class_name,
            config_key=(
                "training_config.optimizer_config.config.decay"
                if model.source.format == "h5"
                else "compile_config.optimizer.config.decay"
            ),
            fix="For the same schedule use `keras.optimizers.schedules.InverseTimeDecay("
            f"initial_learning_rate={number(rate) if rate else 'lr'}, decay_steps=1, "
            f"decay_rate={number(decay)})`; for weight decay use `weight_decay=` (Keras 3, "
            "tf.keras >= 2.11).",
            details={"decay": decay, "learning_rate": rate},
        )

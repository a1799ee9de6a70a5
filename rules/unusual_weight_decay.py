"""WD005 unusual-weight-decay."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar

from pydantic import model_validator

from auditor.graph.model import ModelGraph
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions


class UnusualWeightDecay(Rule):
    """## What it does
    Checks that the optimizer's `weight_decay` lies within `[min, max]`, and shows what it
    does per step at the compiled learning rate.

    ## Why is this bad?
    Keras 3 applies decoupled decay as `w -= w * weight_decay * lr` every step, so the
    value is not comparable with an L2 coefficient (`L2(1e-4)` is `weight_decay=2e-4` only
    under plain SGD) nor with PyTorch's coupled `Adam(weight_decay=...)`. Values copied
    across these conventions are off by orders of magnitude: too small does nothing, too
    large drags every weight towards zero.

    ## Example
    ```python
    keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=5.0)
    ```

    Use instead:
    ```python
    keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.05)
    ```

    ## Options
    - `min` (float, default 1e-5): smaller positive values are reported.
    - `max` (float, default 0.5): larger values are reported.

    ## References
    - Keras 3 `BaseOptimizer._apply_weight_decay`; `AdamW(weight_decay=0.004)` default
    - Loshchilov & Hutter, *Decoupled Weight Decay Regularization* (arXiv:1711.05101)
    """

    code: ClassVar[str] = "WD005"
    name: ClassVar[str] = "unusual-weight-decay"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"compile"})

    class Options(RuleOptions):
        """Bounds of the usual `weight_decay` range."""

        min: float = 1e-5
        max: float = 0.5

        @model_validator(mode="after")
        def _ordered(self) -> UnusualWeightDecay.Options:
            if not 0 <= self.min <= self.max:
                raise ValueError(
                    f"expected 0 <= min <= max. Received: min={self.min}, max={self.max}"
                )
            return self

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        optimizer = model.optimizer
        if optimizer is None or optimizer.weight_decay in (None, 0.0):
            return
        decay = optimizer.weight_decay
        assert decay is not None
        low, high = ctx.options.min, ctx.options.max
        if math.isfinite(decay) and low <= decay <= high:
            return
        step = self._per_step(decay, optimizer.learning_rate)
        yield self.finding(
            ctx,
            f"weight_decay={number(decay)} is outside the usual [{number(low)}, {number(high)}]"
            f"{step}. Received: {optimizer.class_name}(weight_decay={number(decay)})",
            layer_path="",
            layer_class=model.root.class_name,
            config_key="compile_config.optimizer.config.weight_decay",
            fix="Pick weight_decay for Keras's decoupled form (AdamW's default is 0.004; "
            "0.01-0.1 is common for transformers); an L2(l2) coefficient converts to "
            "weight_decay = 2*l2 only under plain SGD.",
            details={
                "weight_decay": decay if math.isfinite(decay) else str(decay),
                "learning_rate": optimizer.learning_rate,
                "min": low,
                "max": high,
            },
        )

    @staticmethod
    def _per_step(decay: float, learning_rate: float | None) -> str:
        if decay < 0:
            return ": a negative decay grows every weight each step"
        if not (learning_rate and math.isfinite(learning_rate) and learning_rate > 0):
            return ""  # no step size to speak of (a file's learning rate: anything)
        if not math.isfinite(decay):
            return ""
        shrink = decay * learning_rate
        if shrink >= 1:
            return (
                f": at learning_rate={number(learning_rate)} each step multiplies every decayed "
                f"weight by {number(1 - shrink)}"
            )
        left = (1 - shrink) ** 1000
        return (
            f": at learning_rate={number(learning_rate)} each step shrinks every decayed weight "
            f"by {number(shrink)} ({number(left)} of it left after 1000 steps without gradient)"
        )

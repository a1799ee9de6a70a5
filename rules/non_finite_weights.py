"""WGT003 non-finite-weights."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import LayerNode, ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class NonFiniteWeights(Rule):
    """## What it does
    Checks every stored tensor for NaN and +-Inf values.

    ## Why is this bad?
    One non-finite weight makes every output it touches NaN: training diverged (a too high
    learning rate, a loss that overflowed, an unstable custom layer) and the checkpoint
    was saved anyway. Fine-tuning from it cannot recover.

    ## Example
    ```python
    model.fit(x, y)  # loss: nan
    model.save("model.keras")
    ```

    Use instead:
    ```python
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ModelCheckpoint("model.keras", save_best_only=True),
    ]
    model.fit(x, y, callbacks=callbacks)
    ```

    ## Options
    None.

    ## References
    - Keras `TerminateOnNaN` callback
    """

    code: ClassVar[str] = "WGT003"
    name: ClassVar[str] = "non-finite-weights"
    severity: ClassVar[Severity] = Severity.ERROR
    requires: ClassVar[frozenset[str]] = frozenset({"weights"})

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        for weight in layer.weights:
            stats = ctx.stats.get(weight.path)
            if stats is None or not (stats.nan or stats.inf):
                continue
            yield self.finding(
                ctx,
                f"`{weight.shown}` holds {stats.nan} NaN and {stats.inf} infinite value(s) "
                f"among {stats.count}. Received: nan={stats.nan}, inf={stats.inf}",
                layer=layer,
                weight=weight,
                config_key=None,
                fix="Restore an earlier checkpoint and find why training diverged (learning "
                "rate, loss scaling); `keras.callbacks.TerminateOnNaN()` stops such runs.",
                details={"nan": stats.nan, "inf": stats.inf, "count": stats.count},
            )

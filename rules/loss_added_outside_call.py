"""REG012 loss-added-outside-call."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import ModelGraph
from auditor.graph.paths import paths_text
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class LossAddedOutsideCall(Rule):
    """## What it does
    Checks, on a live model, for losses in `model.losses` that no variable's regularizer
    produced and no call of the layer explains: what `layer.add_loss(...)` leaves on a
    built-in layer when it is called from outside `call()`, as in the widely copied recipe
    `layer.add_loss(keras.regularizers.l2(alpha)(layer.kernel))` in a loop over
    `model.layers`. One finding per model, naming the layers. Custom layers, which may add
    losses in their own `call()`, are not judged.

    ## Why is this bad?
    In Keras 3 such a loss is a tensor computed once, from the weights of that moment: it
    has no gradient to follow, and Keras clears it at the start of the next forward pass,
    so the first `fit()` step already trains without it. `model.losses` shows it until
    then, so the model looks regularized to anything that inspects it before training.
    Keras 3 refuses the zero-argument-callable form (`add_loss(lambda: ...)`), which
    tf.keras 2 required and recomputed at every step; the recipe written for tf.keras 2
    therefore does nothing, or fails, in Keras 3.

    ## Example
    ```python
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            layer.add_loss(keras.regularizers.l2(1e-4)(layer.kernel))  # gone at fit()
    ```

    Use instead:
    ```python
    from auditor.fix import apply_regularization

    apply_regularization(model, l2=1e-4)  # each variable's regularizer, every step
    ```

    ## Options
    None.

    ## References
    - keras-team/keras `keras/src/layers/layer.py` (`add_loss`, `_clear_losses`)
    - keras-team/keras#16316 and tensorflow/tensorflow#37511 (the `add_loss(lambda: ...)`
      recipe on pretrained models, in tf.keras 2)
    - tensorflow/tensorflow#42880 (weight decay through `add_loss()` that does not act)
    """

    code: ClassVar[str] = "REG012"
    name: ClassVar[str] = "loss-added-outside-call"
    severity: ClassVar[Severity] = Severity.ERROR
    requires: ClassVar[frozenset[str]] = frozenset({"live"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        layers = [node for node in model.root.walk() if node.added_losses]
        if not layers:
            return
        values = [value for node in layers for value in node.added_losses]
        known = [value for value in values if math.isfinite(value)]
        total = f" (together {number(sum(known))})" if known else ""
        version = model.source.keras_version or "3"
        yield self.finding(
            ctx,
            f"`model.losses` holds {len(values)} loss(es){total} that `add_loss()` put on "
            f"{len(layers)} layer(s) from outside `call()`, not from any variable's "
            f"regularizer: {paths_text([node.display_path for node in layers])}. Keras "
            f"{version} clears them at the start of the next forward pass, so `fit()` never "
            "minimizes them, and as tensors computed once they carry no gradient.",
            layer_path="",
            layer_class=model.root.class_name,
            fix="Regularize through the variables instead: "
            "`auditor.fix.apply_regularization(model, l2=...)` sets each layer's "
            "regularizer and each variable's, so `model.losses` recomputes the penalty "
            "at every step.",
            details={
                "losses": {node.display_path: list(node.added_losses) for node in layers},
                "keras_version": version,
            },
        )

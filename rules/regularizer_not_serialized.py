"""REG002 regularizer-not-serialized."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import LayerNode, ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class RegularizerNotSerialized(Rule):
    """## What it does
    Checks, on a live model, for variables that carry a regularizer their layer's config
    does not declare (or declares with another value): `layer.kernel.regularizer = ...`
    without the matching `layer.kernel_regularizer = ...`.

    ## Why is this bad?
    The penalty is in `model.losses` now, but `get_config()` serializes the layer
    attribute, so `model.save()` writes the old value: after a reload, or in any model
    rebuilt from the config (`clone_model`, `from_config`), the regularization this run
    trained with is gone. Results then cannot be reproduced from the saved model.

    ## Example
    ```python
    layer.kernel.regularizer = keras.regularizers.L2(1e-4)  # lost on save
    ```

    Use instead:
    ```python
    regularizer = keras.regularizers.L2(1e-4)
    layer.kernel_regularizer = regularizer  # what get_config() and model.save() write
    layer.kernel.regularizer = regularizer  # what model.losses uses
    ```

    ## Options
    None.

    ## References
    - Keras 3 `Layer.add_weight` (sets `variable.regularizer`) and `Dense.get_config`
      (serializes the layer attribute)
    """

    code: ClassVar[str] = "REG002"
    name: ClassVar[str] = "regularizer-not-serialized"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"live"})

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        for weight in layer.weights:
            active = weight.active_regularizer
            if active is None or active.is_inert or active == weight.regularizer:
                continue
            key = (weight.regularizer_key or f"{weight.name}_regularizer").rsplit(".", 1)[-1]
            declared = weight.regularizer.describe() if weight.regularizer else "None"
            yield self.finding(
                ctx,
                f"Variable `{weight.path}` carries {active.describe()}, but its layer "
                f"declares {key}={declared}: the penalty applies in this session and "
                "`model.save()` does not keep it.",
                layer=layer,
                weight=weight,
                fix=f"Set the layer attribute too: `layer.{key} = layer.{weight.name}."
                "regularizer`, or use `auditor.fix.apply_regularization(model, ...)`.",
                details={"active": active.describe(), "declared": declared},
            )

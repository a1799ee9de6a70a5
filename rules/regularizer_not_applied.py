"""REG001 regularizer-not-applied."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import LayerNode, ModelGraph, WeightRef
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class RegularizerNotApplied(Rule):
    """## What it does
    Checks, on a live model, for weights whose layer declares a regularizer (the layer
    attribute that `get_config()` and `model.save()` write) while the variable itself
    carries none (`variable.regularizer is None`), so the penalty is absent from
    `model.losses`.

    This is what `layer.kernel_regularizer = ...` does after the model is built, and what
    a custom layer does when it accepts `*_regularizer` but never passes it to
    `add_weight()`.

    ## Why is this bad?
    Keras 3 computes `model.losses` from each variable's `regularizer`, which `add_weight()`
    sets once, at build time. Setting the layer attribute later only changes the config:
    this training run is not regularized, yet the saved file says it is, and a reload
    (which rebuilds from the config) silently switches the penalty on. The
    "reload the model from its config" workaround also re-initializes every weight unless
    they are restored afterwards.

    ## Example
    ```python
    model = keras.applications.MobileNet(weights="imagenet")
    for layer in model.layers:
        if hasattr(layer, "kernel_regularizer"):
            layer.kernel_regularizer = keras.regularizers.L2(1e-4)  # model.losses == []
    ```

    Use instead:
    ```python
    from auditor.fix import apply_regularization

    apply_regularization(model, l2=1e-4)  # sets the attribute and variable.regularizer
    ```

    ## Options
    None.

    ## References
    - keras-team/keras#8413, tensorflow/tensorflow#33635 (`model.losses` stays empty)
    - S. Silva, "How to Add Regularization to Keras Pre-trained Models the Right Way" (2019)
    - Keras 3 `Layer.add_weight` and `Layer._get_regularization_losses`
    """

    code: ClassVar[str] = "REG001"
    name: ClassVar[str] = "regularizer-not-applied"
    severity: ClassVar[Severity] = Severity.ERROR
    requires: ClassVar[frozenset[str]] = frozenset({"live"})

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        missing = [w for w in layer.weights if _declared_not_applied(w)]
        if not missing:
            return
        settings = ", ".join(_setting(w) for w in missing)
        frozen = [w.path for w in missing if not w.trainable]
        note = (
            f" ({', '.join(f'`{p}`' for p in frozen)} frozen: Keras 3 would skip it until "
            "it is unfrozen.)"
            if frozen
            else ""
        )
        yield self.finding(
            ctx,
            f"`{layer.path}` declares {settings}, but the variable(s) carry no regularizer: "
            "the penalty is not in `model.losses`, so this run is not regularized, while the "
            f"saved model would be after a reload.{note}",
            layer=layer,
            weight=missing[0] if len(missing) == 1 else None,
            config_key=missing[0].regularizer_key,
            fix=_fix(missing),
            details={
                "weights": [w.path for w in missing],
                "declared": {w.path: _describe(w) for w in missing},
            },
        )


def _declared_not_applied(weight: WeightRef) -> bool:
    declared = weight.regularizer
    return declared is not None and not declared.is_inert and weight.active_regularizer is None


def _key(weight: WeightRef) -> str:
    return (weight.regularizer_key or f"{weight.name}_regularizer").rsplit(".", 1)[-1]


def _describe(weight: WeightRef) -> str:
    return weight.regularizer.describe() if weight.regularizer else "None"


def _setting(weight: WeightRef) -> str:
    return f"{_key(weight)}={_describe(weight)} for `{weight.path}`"


def _fix(weights: list[WeightRef]) -> str:
    lines = "; ".join(f"`layer.{w.name}.regularizer = layer.{_key(w)}`" for w in weights[:3])
    return (
        f"Give each variable its layer's regularizer ({lines}), or call "
        "`auditor.fix.apply_regularization(model, l2=...)`; if `fit()` already ran, "
        "call `model.make_train_function(force=True)` afterwards."
    )

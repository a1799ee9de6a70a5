"""DRP003 unusual-dropout-rate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import Field

from auditor.graph.heads import DROPOUT, Parents, parents, predecessor
from auditor.graph.model import LayerNode, ModelGraph
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions


class UnusualDropoutRate(Rule):
    """## What it does
    Checks the `rate` of each dropout layer (`Dropout`, `SpatialDropout1D/2D/3D`,
    `GaussianDropout`, `AlphaDropout`) for three settings that are rarely meant:

    - a rate of exactly 0: the layer does nothing (a tiny rate, such as MobileNet's
      default 0.001, is a choice and not a finding);
    - a rate at or above `max_rate` (default 0.8): most of the units are dropped at every
      step;
    - a rate above `max_input_rate` (default 0.5) on a layer that takes the model's input
      directly: more than half of the raw features are dropped.

    ## Why is this bad?
    A rate of 0 leaves a layer that only costs a node in the graph and suggests a
    regularization that is not there. Very high rates leave too little signal to learn
    from: the network underfits, or needs far more units and epochs to make up for it.
    On the inputs, Srivastava et al. found dropping 20 % of the raw features works best
    and recommend keeping at least 80 %; dropping most of them destroys the input rather
    than regularizing the model.

    ## Example
    ```python
    x = keras.layers.Dropout(0.6)(inputs)  # more than half of the raw features
    x = keras.layers.Dense(512, activation="relu")(x)
    x = keras.layers.Dropout(0.9)(x)  # nine units in ten dropped
    ```

    Use instead:
    ```python
    x = keras.layers.Dropout(0.2)(inputs)
    x = keras.layers.Dense(512, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    ```

    ## Options
    - `max_rate` (float, default 0.8): rates at or above it are reported anywhere.
    - `max_input_rate` (float, default 0.5): rates above it are reported on a layer that
      takes the model's input.

    ## References
    - Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
      Overfitting", JMLR 15, 2014 (section 7 and appendix A: retention 0.8 for inputs,
      0.5 for hidden units)
    - keras-team/keras `keras/src/layers/regularization/dropout.py` (`rate`: the fraction
      of the input units to drop; a rate of 0 returns the inputs unchanged)
    """

    code: ClassVar[str] = "DRP003"
    name: ClassVar[str] = "unusual-dropout-rate"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    class Options(RuleOptions):
        """Thresholds of DRP003."""

        max_rate: float = Field(default=0.8, gt=0, le=1)
        max_input_rate: float = Field(default=0.5, gt=0, le=1)

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        taken_from = parents(model)
        for layer in model.root.walk():
            if layer.class_name not in DROPOUT:
                continue
            rate = _rate(layer.config.get("rate"))
            if rate is None:
                continue
            if rate == 0:
                why = "it drops nothing, so the layer does nothing"
                fix = "Set the rate you meant, or remove the layer."
            elif rate >= ctx.options.max_rate:
                why = (
                    f"it drops {number(rate * 100)} % of its inputs at every step, at or above "
                    f"{number(ctx.options.max_rate)} (max_rate): too little signal is left "
                    "to learn from"
                )
                fix = "Lower the rate (0.5 is the usual choice for hidden units)."
            elif rate > ctx.options.max_input_rate and _takes_model_input(
                taken_from, layer, model.root
            ):
                why = (
                    f"it takes the model's input and drops {number(rate * 100)} % of the raw "
                    f"features, above {number(ctx.options.max_input_rate)} (max_input_rate): "
                    "dropout on inputs keeps most of them (retention 0.8 is the usual choice)"
                )
                fix = "Lower the rate on the inputs (0.2 is the usual choice)."
            else:
                continue
            yield self.finding(
                ctx,
                f"`{layer.path}` ({layer.class_name}) has rate={number(rate)}: {why}.",
                layer=layer,
                config_key=layer.setting_key("rate"),
                fix=fix,
                details={"rate": rate},
            )


def _rate(value: Any) -> float | None:
    """A dropout rate from a config, or None for anything but a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 1 else None


def _takes_model_input(taken_from: Parents, layer: LayerNode, root: LayerNode) -> bool:
    """Whether `layer` takes the model's own input: in the model itself (not in a nested
    model), right after its `InputLayer`, or first in a Sequential without one."""
    found = taken_from.place.get(id(layer))
    if found is None or found[0] is not root:
        return False
    before = predecessor(taken_from, layer)
    if before is None:
        return root.class_name == "Sequential" and found[1] == 0
    return before.class_name == "InputLayer"

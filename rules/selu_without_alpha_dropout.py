"""DRP005 selu-without-alpha-dropout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.dropout import rate
from auditor.graph.heads import DROPOUT, Parents, parents, predecessor
from auditor.graph.model import LayerNode, ModelGraph, Role
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext

#: Selu layers named in a message, at most.
_SHOWN = 3


class SeluWithoutAlphaDropout(Rule):
    """## What it does
    Checks that dropout matches the network's activations. In a self-normalizing network
    (`selu` activations on layers initialized with `lecun_normal`), every dropout layer
    with a positive rate other than `AlphaDropout` is reported; in any other network,
    every `AlphaDropout`.

    ## Why is this bad?
    SELU with `lecun_normal` weights keeps each layer's activations near mean 0 and
    variance 1 without normalization layers. Plain dropout breaks that: it sets units to
    0, which is not SELU's resting value, and scales the rest by `1 / (1 - rate)`, so
    the mean and variance drift from layer to layer and training loses the property the
    network was built for. `AlphaDropout` sets dropped units to SELU's negative
    saturation value and corrects with an affine map, keeping mean and variance; it
    only does so for inputs that SELU has normalized, and elsewhere it just distorts
    them.

    ## Example
    ```python
    x = keras.layers.Dense(256, activation="selu", kernel_initializer="lecun_normal")(x)
    x = keras.layers.Dropout(0.1)(x)
    ```

    Use instead:
    ```python
    x = keras.layers.Dense(256, activation="selu", kernel_initializer="lecun_normal")(x)
    x = keras.layers.AlphaDropout(0.1)(x)
    ```

    ## Options
    None.

    ## References
    - Klambauer, Unterthiner, Mayr and Hochreiter, "Self-Normalizing Neural Networks",
      NeurIPS 2017 (arXiv:1706.02515), section "New Dropout Technique"
    - keras-team/keras `keras/src/layers/regularization/alpha_dropout.py` (keeps mean and
      variance of its inputs; fits SELU) and `keras/src/activations/activations.py`
      (`selu`: to be used with `lecun_normal` and `AlphaDropout`)
    """

    code: ClassVar[str] = "DRP005"
    name: ClassVar[str] = "selu-without-alpha-dropout"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        layers = list(model.root.walk())
        taken_from = parents(model)
        selu = [layer for layer in layers if layer.activation == "selu"]
        normalizing = [layer for layer in selu if _lecun_normal(taken_from, layer)]
        for layer in layers:
            drop = rate(layer) if layer.class_name in DROPOUT else None
            if not drop:
                continue
            alpha = layer.class_name == "AlphaDropout"
            if normalizing and not alpha:
                yield self.finding(
                    ctx,
                    f"`{layer.path}` ({layer.class_name}, rate={number(drop)}) is in a "
                    f"self-normalizing network (selu with lecun_normal: {_named(normalizing)}):"
                    " it sets units to 0 and rescales the rest, so the mean and variance "
                    "that SELU keeps near 0 and 1 drift.",
                    layer=layer,
                    config_key=layer.setting_key("rate"),
                    fix="Use AlphaDropout, which keeps the mean and variance of SELU activations.",
                    details={"rate": drop, "selu_layers": [node.path for node in normalizing]},
                )
            elif alpha and not normalizing:
                yield self.finding(
                    ctx,
                    f"`{layer.path}` (AlphaDropout, rate={number(drop)}) is in a network "
                    f"that is not self-normalizing ({_why_not(selu)}): AlphaDropout keeps "
                    "the mean and variance only of activations SELU has normalized, and "
                    "distorts others.",
                    layer=layer,
                    config_key=layer.setting_key("rate"),
                    fix="Use Dropout here, or make the network self-normalizing (selu "
                    "activations with kernel_initializer='lecun_normal').",
                    details={"rate": drop, "selu_layers": [node.path for node in selu]},
                )


def _lecun_normal(taken_from: Parents, layer: LayerNode) -> bool:
    """Whether a selu layer's kernel (an `Activation` layer's: the kernel before it) is
    initialized with `lecun_normal`."""
    owner = layer
    if layer.class_name == "Activation":
        owner = predecessor(taken_from, layer) or layer
    kernel = next((w for w in owner.weights if w.role is Role.KERNEL), None)
    if kernel is None or kernel.initializer is None:
        return False
    return kernel.initializer.snake_name == "lecun_normal"


def _named(layers: list[LayerNode]) -> str:
    shown = ", ".join(f"`{layer.path}`" for layer in layers[:_SHOWN])
    more = len(layers) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _why_not(selu: list[LayerNode]) -> str:
    if not selu:
        return "no selu activation"
    return f"its selu layers {_named(selu)} are not initialized with lecun_normal"

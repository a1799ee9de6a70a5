"""DRP002 elementwise-dropout-on-feature-maps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.decay import NORMALIZATION_CLASSES
from auditor.graph.dropout import CONVOLUTIONS, feature_map_before, mask_axes, rate
from auditor.graph.heads import parents
from auditor.graph.model import ModelGraph
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext

#: Layers between the convolution and the dropout that keep the feature map, at most.
_HOPS = 4


class ElementwiseDropoutOnFeatureMaps(Rule):
    """## What it does
    Checks, in a network without normalization layers, for a plain `Dropout` that drops
    single values of the feature map of a 2D or 3D convolution (its output, or that
    output after activations, padding or pooling). A `Dropout` whose `noise_shape` shares
    its draw across axes (ones on the spatial axes: whole channels) counts as spatial
    dropout and is not reported.

    ## Why is this bad?
    Neighbouring activations of a convolutional feature map are strongly correlated, so
    when single values are dropped the next layer recovers them from their neighbours:
    elementwise dropout there mostly adds noise and regularizes little. Tompson et al.
    drop whole feature maps instead (SpatialDropout), which removes what a channel
    carries. With batch normalization in the network, dropout on feature maps is often
    left out altogether, which is why such networks are not reported.

    ## Example
    ```python
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.Dropout(0.25)(x)
    ```

    Use instead:
    ```python
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.SpatialDropout2D(0.25)(x)
    ```

    ## Options
    None.

    ## References
    - Tompson, Goroshin, Jain, LeCun and Bregler, "Efficient Object Localization Using
      Convolutional Networks", CVPR 2015 (arXiv:1411.4280), section 3.2 (SpatialDropout)
    - keras-team/keras `keras/src/layers/regularization/spatial_dropout.py` (drops entire
      feature maps, for when adjacent pixels are strongly correlated)
    """

    code: ClassVar[str] = "DRP002"
    name: ClassVar[str] = "elementwise-dropout-on-feature-maps"
    severity: ClassVar[Severity] = Severity.INFO
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        layers = list(model.root.walk())
        if any(layer.class_name in NORMALIZATION_CLASSES for layer in layers):
            return
        taken_from = parents(model)
        for layer in layers:
            if layer.class_name != "Dropout" or not rate(layer):
                continue
            if mask_axes(layer) != "elementwise":
                continue
            conv = feature_map_before(taken_from, layer, _HOPS)
            if conv is None:
                continue
            rank = CONVOLUTIONS[conv.class_name]
            spatial = f"SpatialDropout{rank - 2}D"
            yield self.finding(
                ctx,
                f"`{layer.path}` (Dropout, rate={number(rate(layer) or 0)}) drops single "
                f"values of the {rank}D feature map of {conv.class_name} `{conv.path}`, "
                "whose neighbouring activations are correlated: the next layer recovers "
                "most of what is dropped, so it regularizes little.",
                layer=layer,
                config_key=layer.setting_key("rate"),
                fix=f"Use {spatial}, which drops whole feature maps (or set a noise_shape "
                "with ones on the spatial axes).",
                details={"convolution": conv.path, "rank": rank, "suggested": spatial},
            )

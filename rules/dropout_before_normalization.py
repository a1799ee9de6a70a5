"""DRP001 dropout-before-normalization."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from auditor.graph.dropout import batch_norm_after, mask_axes, rate
from auditor.graph.model import LayerNode, ModelGraph
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions

#: The dropout layers whose training-time variance differs from inference's (AlphaDropout
#: keeps both, for SELU; SpatialDropout is left to the evidence on channels).
_VARIANCE_SHIFTING = frozenset({"Dropout", "GaussianDropout"})


class DropoutBeforeNormalization(Rule):
    """## What it does
    Checks for a `Dropout` or `GaussianDropout` layer whose output reaches a
    `BatchNormalization`, directly or through up to `max_hops` layers that carry a change
    of variance on: linear maps (`Dense`, convolutions), activations, shape, padding,
    pooling and merge layers. A dropout that drops whole samples (`noise_shape` of ones
    after the batch axis: stochastic depth, EfficientNet's `block*_drop`) is not this
    pattern.

    ## Why is this bad?
    While training, dropout zeroes units and scales the rest by `1 / (1 - rate)`; at
    inference it passes everything unscaled. The two have the same mean but not the same
    variance, so the `BatchNormalization` downstream accumulates moving statistics of the
    training-time variance and then normalizes inference activations with them: the
    "variance shift" that Li et al. show costs accuracy, and grows with the rate. Dropout
    after the last normalization (before the classifier) has no such effect.

    ## Example
    ```python
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Conv2D(64, 3)(x)
    x = keras.layers.BatchNormalization()(x)
    ```

    Use instead:
    ```python
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.Conv2D(64, 3)(x)
    x = keras.layers.BatchNormalization()(x)
    ...
    x = keras.layers.Dropout(0.3)(x)  # after the last BatchNormalization
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    ```

    ## Options
    - `max_hops` (int, default 4): how many layers may sit between the dropout and the
      normalization.

    ## References
    - Li, Chen, Hu and Yang, "Understanding the Disharmony between Dropout and Batch
      Normalization by Variance Shift", CVPR 2019 (arXiv:1801.05134)
    - keras-team/keras `keras/src/layers/normalization/batch_normalization.py` (the
      moving mean and variance, updated in training, normalize at inference)
    """

    code: ClassVar[str] = "DRP001"
    name: ClassVar[str] = "dropout-before-normalization"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    class Options(RuleOptions):
        """Thresholds of DRP001."""

        max_hops: int = Field(default=4, ge=0)

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        for container in model.root.walk():
            if container.is_model and container.children:
                yield from self._container(container, ctx)

    def _container(self, container: LayerNode, ctx: RuleContext) -> Iterator[Finding]:
        for layer in container.children:
            if layer.class_name not in _VARIANCE_SHIFTING:
                continue
            drop = rate(layer)
            if not drop or mask_axes(layer) == "samples":
                continue
            found = batch_norm_after(container, layer, ctx.options.max_hops)
            if found is None:
                continue
            norm, between = found
            through = (
                " through " + ", ".join(f"`{node.path}`" for node in between) if between else ""
            )
            yield self.finding(
                ctx,
                f"`{layer.path}` ({layer.class_name}, rate={number(drop)}) feeds "
                f"{norm.class_name} `{norm.path}`{through}. In training the normalization's "
                "moving statistics record the variance of dropped and rescaled activations, "
                "at inference it sees all of them unscaled: it normalizes with the wrong "
                "variance (the variance shift).",
                layer=layer,
                config_key=layer.setting_key("rate"),
                fix="Move the dropout after the last BatchNormalization (before the "
                "classifier), or lower its rate.",
                details={
                    "rate": drop,
                    "normalization": norm.path,
                    "through": [node.path for node in between],
                },
            )

"""DRP006 dropout-at-inference."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.dropout import at_inference
from auditor.graph.heads import STOCHASTIC
from auditor.graph.model import ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class DropoutAtInference(Rule):
    """## What it does
    Checks for a dropout or noise layer (`Dropout`, `SpatialDropout1D/2D/3D`,
    `GaussianDropout`, `AlphaDropout`, `GaussianNoise`) that the functional graph calls
    with `training=True`: Keras 3 stores the argument in the call's node
    (`"kwargs": {"training": true}`), tf.keras 2 in its inbound node list. A plain call
    stores nothing or `training=False`, which is not reported.

    ## Why is this bad?
    It is often a choice: Monte Carlo dropout keeps dropout active at inference and
    averages many predictions to estimate uncertainty. But when it takes effect depends
    on the Keras version that runs the model. In Keras 3 the training flag of the outer
    call wins whenever one is given: the layer drops units in direct calls `model(x)`,
    while `predict()`, `evaluate()` and `model(x, training=False)` run it as the identity.
    In tf.keras 2 the argument given to the layer wins: it drops units in every call,
    `predict()` included. A model saved with one and served with the other changes its
    predictions silently; and where it was not meant, every prediction is noisy.

    ## Example
    ```python
    x = keras.layers.Dropout(0.5)(x, training=True)
    ```

    Use instead:
    ```python
    x = keras.layers.Dropout(0.5)(x)  # active in fit(), the identity at inference
    # or, for Monte Carlo dropout in Keras 3, call the model directly on purpose:
    samples = [model(x) for _ in range(30)]  # not model.predict(x)
    ```

    ## Options
    None.

    ## References
    - Gal and Ghahramani, "Dropout as a Bayesian Approximation: Representing Model
      Uncertainty in Deep Learning", ICML 2016 (Monte Carlo dropout)
    - keras-team/keras `keras/src/models/functional.py` (`operation_fn`: a `training`
      value given to the model replaces the one stored in the node)
    - keras-team/tf-keras `tf_keras/engine/base_layer.py` (`_set_training_mode`: a
      `training` argument passed to the layer call takes priority)
    """

    code: ClassVar[str] = "DRP006"
    name: ClassVar[str] = "dropout-at-inference"
    severity: ClassVar[Severity] = Severity.INFO
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        version = model.source.keras_version
        saved = f" The model was saved by Keras {version}." if version else ""
        for layer in model.root.walk():
            if layer.class_name not in STOCHASTIC or not at_inference(layer):
                continue
            yield self.finding(
                ctx,
                f"`{layer.path}` ({layer.class_name}) is called with training=True, so it "
                "stays active at inference (Monte Carlo dropout). In Keras 3 only in "
                "direct calls model(x): predict(), evaluate() and model(x, "
                "training=False) override it. In tf.keras 2 in every call, predict() "
                f"included.{saved}",
                layer=layer,
                config_key=f"{layer.config_key}.inbound_nodes" if layer.config_key else None,
                fix="If test-time dropout is meant, call the model directly (Keras 3) and "
                "say so where it is used; otherwise call the layer without training=True.",
                details={
                    "keras_3": "direct calls without a training argument",
                    "tf_keras_2": "every call",
                    "saved_by": version,
                },
            )

"""AUD002 opaque-layers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import NO_CONFIG, LayerNode, ModelGraph
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class OpaqueLayers(Rule):
    """## What it does
    Lists subclassed models and custom or unknown layers whose config does not say which
    weights they create or how they are regularized, with the weights and parameters the
    audit therefore could not judge. For a weights-only file (`save_weights`) or a
    SavedModel written by `export()`, which hold no Keras config at all, one finding says
    what such an audit cannot judge.

    ## Why is this bad?
    keras-audit reads configs, never code. A subclassed model's config holds only what its
    `get_config()` returns, usually no layers and no regularizers, so the regularization
    rules cannot see inside it. Listing these layers keeps the coverage honest: a clean
    report on an opaque model means "not checked", not "correct".

    ## Example
    ```python
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.body = keras.layers.Dense(8, kernel_regularizer="l2")
    ```

    Use instead:
    ```python
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(8)(inputs))  # functional: fully visible
    # or audit the live object: auditor.audit(model) sees every variable's regularizer
    ```

    ## Options
    None.

    ## References
    - Keras 3 `saving_lib`: subclassed models store only their `get_config()`
    """

    code: ClassVar[str] = "AUD002"
    name: ClassVar[str] = "opaque-layers"
    severity: ClassVar[Severity] = Severity.INFO

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        if not model.has_config:
            yield self._weights_only(model, ctx)
        for node in model.root.walk():
            if node.opaque is None:
                continue
            yield self._finding(node, ctx)

    def _weights_only(self, model: ModelGraph, ctx: RuleContext) -> Finding:
        reason = NO_CONFIG.get(model.source.format, "the source holds no model config")
        weights = list(model.weights())
        layers = sum(1 for node in model.layers() if node.weights)
        return self.finding(
            ctx,
            f"{reason[0].upper()}{reason[1:]}: {layers} layer(s) with "
            f"{len(weights)} weight(s) ({number(sum(w.size for w in weights))} parameters) "
            "were recognised from the stored tensors, but their regularizers, initializers, "
            "settings and optimizer are not recorded, so the regularization and "
            "weight-decay rules cannot judge them. The weights themselves were checked "
            "(WGT001 against Keras's default initializers).",
            layer_path="",
            layer_class=model.root.class_name,
            fix="Audit the full model (`model.save('model.keras')`) to judge its regularization.",
            details={"layers": layers, "weights": len(weights)},
        )

    def _finding(self, node: LayerNode, ctx: RuleContext) -> Finding:
        weights = list(node.all_weights())
        params = sum(w.size for w in weights)
        return self.finding(
            ctx,
            f"`{node.display_path}` is opaque to a static audit: {node.opaque}. "
            f"{len(weights)} weight(s) ({number(params)} parameters) were not checked for "
            "regularization.",
            layer=node,
            config_key=node.config_key or None,
            fix="Build the model with the functional or Sequential API, or audit the live "
            "model with `auditor.audit(model)`.",
            details={
                "module": node.module,
                "registered_name": node.registered_name,
                "weights": len(weights),
                "parameters": params,
            },
        )

"""AUD003 unmapped-weights."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import LayerNode, ModelGraph
from auditor.graph.paths import paths_text
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class UnmappedWeights(Rule):
    """## What it does
    Checks that the config and the weights file agree: every variable the config implies
    is stored in the weights file, and every stored tensor belongs to a layer of the
    config. One finding per layer with missing weights, and one listing the stored tensors
    no layer claims. A keras_hub preset's `metadata.json` declares the backbone's
    `parameter_count`: it must be what `model.weights.h5` holds.

    ## Why is this bad?
    A mismatch means the file was assembled from parts that do not belong together (a
    weights file from another architecture, an edited config), or that the model uses a
    layer whose variables keras-audit does not know. Either way the weights rules would
    judge the wrong tensors, or none, without saying so.

    ## Example
    ```python
    # config.json edited by hand to add a layer, weights left as they were
    ```

    Use instead:
    ```python
    model.save("model.keras")  # config and weights written together
    ```

    ## Options
    None.

    ## References
    - Keras 3 `saving_lib` (HDF5 group naming), legacy `save_weights_to_hdf5_group`
    """

    code: ClassVar[str] = "AUD003"
    name: ClassVar[str] = "unmapped-weights"
    severity: ClassVar[Severity] = Severity.WARNING

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        if not model.weights_read or not model.has_config:
            return
        missing = [w for w in layer.weights if w.storage is None]
        if missing:
            where = (
                "the live layer has no such variable"
                if model.live
                else "the weights file has no tensor for it"
            )
            yield self.finding(
                ctx,
                f"{layer.class_name} `{layer.path}` should have "
                f"{', '.join(w.name for w in missing)} but {where}.",
                layer=layer,
                fix="Re-save config and weights together with `model.save()`."
                if not model.live
                else "Check that the layer's `build()` creates the variables its config implies.",
                details={"missing": [w.path for w in missing]},
            )

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        count = model.parameter_check
        if model.weights_read and count is not None and count.declared != count.stored:
            yield self.finding(
                ctx,
                f"{count.where} declares {number(count.declared)} parameters, but "
                f"{count.counted} holds {number(count.stored)}: the weights are not the "
                "ones the preset describes.",
                layer_path="",
                config_key=f"{count.where}:parameter_count",
                fix="Re-save the preset with `save_to_preset()` from the model it describes.",
                details={"declared": count.declared, "stored": count.stored},
            )
        if not model.weights_read or not model.unclaimed:
            return
        unclaimed = list(model.unclaimed)
        yield self.finding(
            ctx,
            f"{number(len(unclaimed))} stored tensor(s) belong to no layer of the config: "
            f"{paths_text(unclaimed)}.",
            layer_path="",
            fix="Re-save config and weights together with `model.save()`.",
            details={"unclaimed": unclaimed[:500]},
        )

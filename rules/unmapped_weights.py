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
    no layer claims.

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
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        if not model.weights_read:
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

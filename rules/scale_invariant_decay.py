"""REG008 scale-invariant-decay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from auditor.graph.flow import HOMOGENEOUS, consumers, normalizers
from auditor.graph.model import LayerNode, ModelGraph, Role
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions


class ScaleInvariantDecay(Rule):
    """## What it does
    Checks for L2 regularizers on kernels whose output goes straight into a normalization
    layer (`BatchNormalization`, `LayerNormalization`, `GroupNormalization`), possibly
    through linear or shape-only layers (padding, reshape, pooling, dropout, ReLU).

    ## Why is this bad?
    The normalization divides out any rescaling of the kernel, so the function the layer
    computes does not depend on the kernel's norm and the L2 penalty constrains nothing.
    What it does change is the effective learning rate (smaller weights see larger relative
    updates). That can be intended, but it is not regularization; this finding is
    informational.

    ## Example
    ```python
    x = keras.layers.Conv2D(64, 3, use_bias=False, kernel_regularizer="l2")(x)
    x = keras.layers.BatchNormalization()(x)
    ```

    Use instead:
    ```python
    x = keras.layers.Conv2D(64, 3, use_bias=False)(x)  # or keep it, knowingly, as an
    x = keras.layers.BatchNormalization()(x)  # effective-learning-rate control
    ```

    ## Options
    - `max_hops` (int, default 4): how many pass-through layers may sit between the
      kernel's layer and the normalization.

    ## References
    - van Laarhoven, *L2 Regularization versus Batch and Weight Normalization*
      (arXiv:1706.05350)
    """

    code: ClassVar[str] = "REG008"
    name: ClassVar[str] = "scale-invariant-decay"
    severity: ClassVar[Severity] = Severity.INFO
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    class Options(RuleOptions):
        """Thresholds of REG008."""

        max_hops: int = Field(default=4, ge=0)

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        for container in model.root.walk():
            if not container.is_model or not container.children:
                continue
            yield from self._container(container, ctx)

    def _container(self, container: LayerNode, ctx: RuleContext) -> Iterator[Finding]:
        taken_by = consumers(container)
        for layer in container.children:
            kernel = next((w for w in layer.weights if w.role is Role.KERNEL and w.trainable), None)
            if kernel is None or kernel.regularizer is None or kernel.regularizer.l2 <= 0:
                continue
            if layer.activation not in HOMOGENEOUS:
                continue
            norms = normalizers(layer.name, taken_by, ctx.options.max_hops)
            if not norms:
                continue
            norm = norms[0]
            yield self.finding(
                ctx,
                f"L2 on `{kernel.shown}` ({kernel.regularizer.describe()}) does not regularize: "
                f"its output goes straight into {norm.class_name} `{norm.path}`, which divides "
                "out any rescaling of the kernel. The penalty only changes the effective "
                "learning rate.",
                layer=layer,
                weight=kernel,
                fix="Drop the kernel regularizer of layers followed by normalization, or keep "
                "it knowingly as an effective-learning-rate control.",
                details={"normalization": [n.path for n in norms]},
            )

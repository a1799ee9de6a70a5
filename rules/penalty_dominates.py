"""REG010 penalty-dominates."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from auditor.graph.decay import FAMILY_LABELS, family_of
from auditor.graph.heads import output_heads
from auditor.graph.model import ModelGraph
from auditor.graph.version_bugs import unapplied_penalties
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions

_CATEGORICAL = (
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "categoricalcrossentropy",
    "sparsecategoricalcrossentropy",
)
_BINARY = ("binary_crossentropy", "binarycrossentropy")


class PenaltyDominates(Rule):
    """## What it does
    Computes the regularization penalty at the stored weights, sum(l2 * ||W||^2 + l1 *
    ||W||_1) over the regularized weights that Keras penalizes, and compares it with a
    reference data-loss scale: ln(C) for a C-way classifier, ln(2) for a sigmoid (binary or
    multi-label) one, otherwise `reference_loss`, and says which evidence it used. A head
    is found from each output back through weightless layers (`Dense(C)` then
    `Activation("softmax")`, a `Reshape` or `ActivityRegularization` after the softmax) or
    from a cross-entropy loss in the training config. Reports the penalty per weight
    family. Penalties that the Keras version which wrote the file never applied (REG014)
    are left out.

    ## Why is this bad?
    Keras adds `sum(model.losses)` to every batch's loss, unscaled. When that penalty is
    larger than the data loss of an untrained classifier, the optimizer spends most of its
    steps shrinking weights rather than fitting data, and the printed loss mostly measures
    the penalty. This usually means coefficients such as the bare-string default 0.01 on
    a large model.

    ## Example
    ```python
    keras.layers.Dense(4096, kernel_regularizer=keras.regularizers.L2(0.5))
    ```

    Use instead:
    ```python
    keras.layers.Dense(4096, kernel_regularizer=keras.regularizers.L2(1e-5))
    ```

    ## Options
    - `max_ratio` (float, default 1.0): largest accepted penalty / reference-loss ratio.
    - `reference_loss` (float, default 1.0): the data-loss scale for models that are not
      recognisable classifiers.

    ## References
    - Keras `Trainer.compute_loss` (adds `model.losses` to the data loss)
    - TheDeepChecker's `overwhelm_reg_loss` check
    """

    code: ClassVar[str] = "REG010"
    name: ClassVar[str] = "penalty-dominates"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"weights", "config"})

    class Options(RuleOptions):
        """Thresholds of REG010."""

        max_ratio: float = Field(default=1.0, gt=0.0)
        reference_loss: float = Field(default=1.0, gt=0.0)

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        keras2 = model.source.keras_major == 2
        per_family: dict[str, float] = {}
        total = 0.0
        unapplied = unapplied_penalties(model)
        for weight in model.weights():
            reg = weight.regularizer
            stats = ctx.stats.get(weight.path)
            if reg is None or not reg.is_penalty or stats is None or weight.path in unapplied:
                continue
            if not weight.trainable and not keras2:
                continue  # Keras 3 does not penalize frozen weights
            value = reg.penalty(stats.sum_squares, stats.sum_abs)
            family = family_of(weight)
            label = FAMILY_LABELS[family] if family else weight.role.value
            per_family[label] = per_family.get(label, 0.0) + value
            total += value
        reference, basis = self._reference(model, ctx)
        ratio = total / reference
        if not math.isfinite(total) or ratio <= ctx.options.max_ratio:
            return
        biggest = max(per_family, key=per_family.__getitem__)
        yield self.finding(
            ctx,
            f"The regularization penalty at the stored weights is {number(total)}, "
            f"{number(ratio)}x the reference data loss {number(reference)} ({basis}); "
            f"{biggest} contribute {number(per_family[biggest])}. Received: ratio={number(ratio)}, "
            f"expected at most max_ratio={number(ctx.options.max_ratio)}",
            layer_path="",
            layer_class=model.root.class_name,
            fix="Lower the coefficients (L2 is usually 1e-5 to 1e-4); this penalty is what "
            "`sum(model.losses)` adds to every batch's loss.",
            details={
                "penalty": total,
                "reference_loss": reference,
                "reference_basis": basis,
                "ratio": ratio,
                "per_family": per_family,
            },
        )

    def _reference(self, model: ModelGraph, ctx: RuleContext) -> tuple[float, str]:
        loss = (model.compile.loss or "").lower() if model.compile else ""
        total, reasons = 0.0, []
        for head in output_heads(model):
            units, activation = head.units, head.activation
            if units is None:
                continue
            where = f"`{head.layer.path}`" if not head.via else f"of {head.evidence()}"
            if units >= 2 and activation == "softmax":
                total += math.log(units)
                reasons.append(f"ln({units}) for the {units}-way softmax {where}")
            elif units >= 2 and loss in _CATEGORICAL:
                total += math.log(units)
                reasons.append(f"ln({units}) for the {units}-way {where}, loss {loss}")
            elif activation == "sigmoid":
                total += math.log(2)
                reasons.append(f"ln(2) for the sigmoid {where}")
            elif loss in _BINARY:
                total += math.log(2)
                reasons.append(f"ln(2) for {where}, loss {loss}")
        if total > 0:
            return total, "; ".join(reasons)
        return ctx.options.reference_loss, "the `reference_loss` option"

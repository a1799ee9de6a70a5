"""WGT002 weights-differ-from-reference."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from auditor.graph.model import LayerNode, ModelGraph
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions
from auditor.tensors.verdict import Verdict, judge


class WeightsDifferFromReference(Rule):
    """## What it does
    With a reference model (`--reference REF`, or `auditor.audit(model, reference=...)`),
    checks that each layer's tensors equal the reference's: it reports layers whose values
    changed (with the largest |difference| per tensor), whose shapes changed, that are
    missing on either side, and says when a changed layer is now at its initialization (a
    reset).

    ## Why is this bad?
    After a surgery that should keep the weights (adding regularizers, changing dtypes,
    converting formats, rebuilding from a config) every tensor must be bit-identical. A
    layer that differs was re-initialized or altered; a fine-tuning run would then start
    from random weights without any error.

    ## Example
    ```python
    model = keras.Model.from_config(pretrained.get_config())  # fresh random weights
    ```

    Use instead:
    ```python
    model = keras.Model.from_config(pretrained.get_config())
    model.set_weights(pretrained.get_weights())
    ```

    ## Options
    - `atol` (float, default 0.0): differences up to this are treated as equal.

    ## References
    - S. Silva, "How to Add Regularization to Keras Pre-trained Models the Right Way" (2019)
    """

    code: ClassVar[str] = "WGT002"
    name: ClassVar[str] = "weights-differ-from-reference"
    severity: ClassVar[Severity] = Severity.ERROR
    requires: ClassVar[frozenset[str]] = frozenset({"weights", "reference"})

    class Options(RuleOptions):
        """Tolerance of the comparison."""

        atol: float = Field(default=0.0, ge=0)

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        assert ctx.reference is not None
        others = {w.path: w for w in ctx.reference.weights()}
        problems: list[str] = []
        diffs: dict[str, float | str] = {}
        reset = False
        for weight in layer.weights:
            other = others.get(weight.path)
            stats = ctx.stats.get(weight.path)
            if other is None:
                problems.append(f"{weight.name} is not in the reference")
                diffs[weight.name] = "missing in reference"
            elif other.shape != weight.shape:
                problems.append(f"{weight.name} has shape {weight.shape}, reference {other.shape}")
                diffs[weight.name] = "shape"
            elif stats is not None and stats.comparison is not None:
                gap = stats.comparison.max_abs_diff
                if stats.comparison.differing and gap > ctx.options.atol:
                    problems.append(
                        f"{weight.name} max |diff| {number(gap)} ({stats.comparison.differing} of "
                        f"{stats.count} values)"
                    )
                    diffs[weight.name] = gap
                    reset = reset or judge(stats).verdict is Verdict.INITIAL
        if not problems:
            return
        note = " It is at its initialization now: the layer was reset." if reset else ""
        yield self.finding(
            ctx,
            f"`{layer.path}` differs from the reference model: {'; '.join(problems)}.{note}",
            layer=layer,
            fix="Restore the reference weights (`model.set_weights(reference.get_weights())`"
            " or `load_weights`) before training.",
            details={"max_abs_diff": diffs, "reset": reset},
        )

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        assert ctx.reference is not None
        mine = {w.path for w in model.weights()}
        missing = [w.path for w in ctx.reference.weights() if w.path not in mine]
        if missing:
            yield self.finding(
                ctx,
                f"{len(missing)} weight(s) of the reference model are not in this model: "
                f"{', '.join(f'`{p}`' for p in missing[:5])}"
                + (f" and {len(missing) - 5} more." if len(missing) > 5 else "."),
                layer_path="",
                layer_class=model.root.class_name,
                fix="Compare models with the same architecture and layer names.",
                details={"missing": missing[:500]},
            )

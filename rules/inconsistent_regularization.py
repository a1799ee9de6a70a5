"""REG003 inconsistent-regularization."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from auditor.graph.decay import FAMILY_LABELS, Family, family_of
from auditor.graph.heads import output_heads
from auditor.graph.model import ModelGraph, WeightRef
from auditor.graph.paths import common_prefix, layer_of, nearest_model, paths_text
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions

_LIST_CAP = 200


class InconsistentRegularization(Rule):
    """## What it does
    Checks that each family of trainable weights (dense/conv kernels, depthwise kernels,
    pointwise kernels, recurrent kernels, embeddings) is regularized consistently: either
    all of them or none, with coefficients within `max_ratio` of each other inside one
    model. One finding per family, naming the odd ones out.

    A family leaves out an unregularized output head (the last layer with weights before
    each output): a classifier head without a penalty is a common, deliberate choice. A
    regularized head stays in, so a regularized head on an unregularized backbone is
    still reported.

    ## Why is this bad?
    Partial coverage is almost always an accident. The classic case is a loop over
    `model.layers` that sets `kernel_regularizer`: it sees a nested backbone as a single
    layer and never reaches the layers inside it, so the head is regularized and the
    backbone is not (or, after a reload of a fine-tuned model, the reverse).

    ## Example
    ```python
    base = keras.applications.MobileNet(weights=None, include_top=False, pooling="avg")
    model = keras.Sequential([base, keras.layers.Dense(10, kernel_regularizer="l2")])
    ```

    Use instead:
    ```python
    # regularize every kernel, nested models included, e.g. by editing the config
    # (`audit fix model.keras -o fixed.keras --l2 1e-4`) or recursing into sub-models
    ```

    ## Options
    - `max_ratio` (float, default 10): largest accepted ratio between the coefficients of
      one family inside one (nested) model.
    - `min_family_size` (int, default 2): smallest family that is judged.

    ## References
    - keras-team/keras#2717 (recursive helpers for nested models)
    - tensorflow/tensorflow#33635
    """

    code: ClassVar[str] = "REG003"
    name: ClassVar[str] = "inconsistent-regularization"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    class Options(RuleOptions):
        """Thresholds of REG003."""

        max_ratio: float = Field(default=10.0, gt=1.0)
        min_family_size: int = Field(default=2, ge=2)

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        families: dict[Family, list[WeightRef]] = {}
        heads = {head.layer.path for head in output_heads(model)}
        for weight in model.weights():
            family = family_of(weight)
            if weight.layer_path in heads and not weight.penalized:
                continue
            if family is not None and weight.trainable:
                families.setdefault(family, []).append(weight)
        containers = nearest_model(model)
        for family, members in families.items():
            if len(members) < ctx.options.min_family_size:
                continue
            penalized = [w for w in members if w.penalized]
            plain = [w for w in members if not w.penalized]
            if penalized and plain:
                yield self._coverage(model, ctx, family, members, penalized, plain)
            elif penalized:
                yield from self._coefficients(model, ctx, family, penalized, containers)

    def _coverage(
        self,
        model: ModelGraph,
        ctx: RuleContext,
        family: Family,
        members: list[WeightRef],
        penalized: list[WeightRef],
        plain: list[WeightRef],
    ) -> Finding:
        label = FAMILY_LABELS[family]
        odd_regularized = len(penalized) < len(plain)
        odd = penalized if odd_regularized else plain
        odd_layers = [w.layer_path for w in odd]
        where = common_prefix(odd_layers)
        node = layer_of(model, where)
        one = len(odd) == 1
        if odd_regularized:
            verdict = "is the only one regularized" if one else "are the only ones regularized"
        else:
            verdict = "lacks a regularizer" if one else "lack a regularizer"
        return self.finding(
            ctx,
            f"{len(penalized)} of {len(members)} trainable {label} "
            f"{'is' if len(penalized) == 1 else 'are'} regularized and {len(plain)} "
            f"{'is' if len(plain) == 1 else 'are'} not: {paths_text(odd_layers)} {verdict}.",
            layer_path=where,
            layer_class=node.class_name if node else None,
            fix=f"Give every trainable {label.rstrip('s')} the same regularizer, recursing into "
            "nested models (a loop over `model.layers` does not reach them).",
            details={
                "family": family.value,
                "regularized": [w.layer_path for w in penalized][:_LIST_CAP],
                "unregularized": [w.layer_path for w in plain][:_LIST_CAP],
            },
        )

    def _coefficients(
        self,
        model: ModelGraph,
        ctx: RuleContext,
        family: Family,
        penalized: list[WeightRef],
        containers: dict[str, str],
    ) -> Iterator[Finding]:
        groups: dict[str, list[WeightRef]] = {}
        for weight in penalized:
            groups.setdefault(containers.get(weight.layer_path, ""), []).append(weight)
        for container, weights in groups.items():
            strengths = [(_strength(w), w) for w in weights]
            low, low_w = min(strengths, key=lambda item: item[0])
            high, high_w = max(strengths, key=lambda item: item[0])
            ratio = high / low
            if ratio <= ctx.options.max_ratio:
                continue
            node = layer_of(model, container)
            yield self.finding(
                ctx,
                f"Coefficients of the trainable {FAMILY_LABELS[family]} in "
                f"`{container or '<model>'}` differ by {number(ratio)}x, from {number(low)} at "
                f"`{low_w.layer_path}` to {number(high)} at `{high_w.layer_path}`. "
                f"Received: ratio={number(ratio)}, expected at most "
                f"max_ratio={number(ctx.options.max_ratio)}",
                layer_path=container,
                layer_class=node.class_name if node else None,
                fix="Use one coefficient per family, or group deliberately different "
                "coefficients into separate sub-models.",
                details={
                    "family": family.value,
                    "ratio": ratio,
                    "coefficients": {w.layer_path: s for s, w in strengths[:_LIST_CAP]},
                },
            )


def _strength(weight: WeightRef) -> float:
    assert weight.regularizer is not None
    return weight.regularizer.l2 + weight.regularizer.l1

"""WGT001 untrained-weights."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from auditor.graph.model import NO_CONFIG, LayerNode, ModelGraph, WeightRef
from auditor.numbers import number
from auditor.results.findings import Confidence, Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions
from auditor.tensors.verdict import KS_ALPHA, SIGMAS, Judgement, Verdict, judge

_RANK = {"low": 0, "medium": 1, "high": 2}
_ASSUMED = (
    "{source}, so no initializer: each was assumed to be Keras's default "
    "(glorot_uniform kernels, orthogonal recurrent kernels, zero biases)."
)


def _assumed(model: ModelGraph) -> str:
    reason = NO_CONFIG.get(model.source.format, "the source declares no config")
    return _ASSUMED.format(source=reason[0].upper() + reason[1:])


class UntrainedWeights(Rule):
    """## What it does
    Checks whether each layer's weights are still statistically indistinguishable from
    their declared initializer, and counts such layers for the whole model.

    The evidence, strongest first: exact constants (a bias still all zeros, a BatchNorm
    `gamma` still all ones); values beyond a bounded initializer's support (any single one
    proves the tensor moved); an orthogonal init whose Gram matrix is no longer the
    identity; the std and mean against the initializer's, with fans computed as the Keras
    version that wrote the model computes them; a Kolmogorov-Smirnov test against the exact
    distribution. Small tensors carry little evidence, so their findings have low
    confidence.

    A weights-only file or an exported SavedModel declares no initializer: Keras's default
    for each kind of variable is assumed, and the findings say so. The stored optimizer
    state's iteration count, when there is one, is quoted in the model-level finding (0:
    the optimizer never took a step).

    ## Why is this bad?
    A model whose weights are at initialization was never trained, or was reset: the
    classic way to "activate" regularizers added after build is to rebuild the model from
    its config, which silently replaces every pretrained weight with fresh random ones.
    With `--expect-pretrained` (a fine-tuning gate) these findings are errors.

    ## Example
    ```python
    model.get_layer("dense").kernel_regularizer = keras.regularizers.L2(1e-4)
    model = keras.Model.from_config(model.get_config())  # pretrained weights lost
    ```

    Use instead:
    ```python
    from auditor.fix import apply_regularization

    apply_regularization(model, l2=1e-4)  # regularizes in place, weights untouched
    ```

    ## Options
    - `ks_alpha` (float, default 0.0001): the KS p-value below which a tensor has moved
      (each fresh tensor fails it with this probability, so it is kept small).
    - `sigmas` (float, default 6.0): how many standard errors the std or mean may be off.

    ## References
    - S. Silva, "How to Add Regularization to Keras Pre-trained Models the Right Way" (2019)
    - Keras `initializers` (`VarianceScaling`, `compute_fans`; Keras 3.15 EinsumDense fans)
    """

    code: ClassVar[str] = "WGT001"
    name: ClassVar[str] = "untrained-weights"
    severity: ClassVar[Severity] = Severity.INFO
    requires: ClassVar[frozenset[str]] = frozenset({"weights"})

    class Options(RuleOptions):
        """Thresholds of the statistical tests."""

        ks_alpha: float = Field(default=KS_ALPHA, gt=0, lt=1)
        sigmas: float = Field(default=SIGMAS, gt=0)

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        severity = Severity.ERROR if ctx.expect_pretrained else Severity.INFO
        judged = at_init = 0
        at_init_paths: list[str] = []
        for layer in model.layers():
            verdicts = self._verdicts(layer, ctx)
            if not verdicts:
                continue
            judged += 1
            if any(j.verdict is Verdict.TRAINED for _, j in verdicts):
                continue
            at_init += 1
            at_init_paths.append(layer.path)
            yield self._layer_finding(model, layer, verdicts, ctx, severity)
        if at_init:
            yield self._summary(model, ctx, severity, judged, at_init_paths)

    def _verdicts(self, layer: LayerNode, ctx: RuleContext) -> list[tuple[WeightRef, Judgement]]:
        found = []
        for weight in layer.weights:
            stats = ctx.stats.get(weight.path)
            if stats is None or stats.init is None:
                continue
            judgement = judge(stats, ks_alpha=ctx.options.ks_alpha, sigmas=ctx.options.sigmas)
            if judgement.verdict is not Verdict.UNKNOWN:
                found.append((weight, judgement))
        return found

    def _layer_finding(
        self,
        model: ModelGraph,
        layer: LayerNode,
        verdicts: list[tuple[WeightRef, Judgement]],
        ctx: RuleContext,
        severity: Severity,
    ) -> Finding:
        confidence = max((j.confidence for _, j in verdicts), key=_RANK.__getitem__)
        evidence = "; ".join(f"{w.name}: {j.evidence}" for w, j in verdicts)
        assumed = "" if model.has_config else f" {_assumed(model)}"
        return self.finding(
            ctx,
            f"`{layer.path}` ({layer.class_name}) is still at its initialization. "
            f"{evidence}.{assumed}",
            layer=layer,
            severity=severity,
            confidence=Confidence(confidence),
            fix="Load the trained weights; when rebuilding a model from its config, restore "
            "them with `model.set_weights(old.get_weights())`.",
            details={
                w.name: {"verdict": j.verdict.value, "confidence": j.confidence}
                for w, j in verdicts
            },
        )

    def _summary(
        self,
        model: ModelGraph,
        ctx: RuleContext,
        severity: Severity,
        judged: int,
        paths: list[str],
    ) -> Finding:
        whole = len(paths) == judged
        cause = (
            "The model was never trained, or its weights were reset (rebuilt from its config "
            "without restoring them)."
            if whole
            else "These layers were never trained, or were re-created after training."
        )
        steps = model.training_steps
        if steps is not None:
            cause += (
                " The stored optimizer state records no training step."
                if steps == 0
                else f" The stored optimizer state records {number(steps)} training steps."
            )
        if not model.has_config:
            cause += f" {_assumed(model)}"
        return self.finding(
            ctx,
            f"{len(paths)} of {judged} layers with weights are at initialization. {cause}",
            layer_path="",
            layer_class=model.root.class_name,
            severity=severity,
            fix="Restore the trained weights (`model.load_weights(...)`), and add "
            "regularization in place with `auditor.fix.apply_regularization(model, ...)` "
            "instead of reloading the config.",
            details={
                "at_initialization": paths[:500],
                "layers_judged": judged,
                "training_steps": steps,
            },
        )

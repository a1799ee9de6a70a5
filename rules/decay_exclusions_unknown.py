"""WD003 decay-exclusions-unknown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.decay import is_decayed_by_optimizer, optimizer_label
from auditor.graph.model import ModelGraph, Role, WeightRef
from auditor.graph.paths import paths_text
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext

# Weights that decoupled weight decay usually leaves alone, and the `var_names` pattern that
# excludes each (None: Keras 3 calls a DepthwiseConv2D's kernel `kernel`, so only
# `var_list` can single it out).
_USUALLY_EXCLUDED: dict[Role, tuple[str, str | None]] = {
    Role.BIAS: ("bias", "bias"),
    Role.GAMMA: ("normalization gamma", "gamma"),
    Role.BETA: ("normalization beta", "beta"),
    Role.EMBEDDINGS: ("embeddings matrix", "embeddings"),
    Role.DEPTHWISE_KERNEL: ("depthwise kernel", None),
}
_PLURALS = {"bias": "biases", "embeddings matrix": "embeddings matrices"}


class DecayExclusionsUnknown(Rule):
    """## What it does
    Checks what optimizer weight decay (`weight_decay > 0`) reaches besides kernels.

    On a live model the exclusion list is known: the rule lists the biases, normalization
    `gamma`/`beta`, embeddings and depthwise kernels that `exclude_from_weight_decay()`
    does not cover (warning). In a saved file the exclusions are never serialized, so after
    a reload every trainable variable is decayed: the rule says so and counts what that
    includes (info).

    ## Why is this bad?
    Keras 3 optimizers decay every trainable variable unless told otherwise, biases and
    normalization parameters included, which the "no bias decay" recipe and most
    transformer recipes exclude. `exclude_from_weight_decay()` is configured by a method
    call that `get_config()` does not record, so a model resumed from a file silently
    loses its exclusions.

    ## Example
    ```python
    model.compile(optimizer=keras.optimizers.AdamW(weight_decay=0.05), loss="mse")
    ```

    Use instead:
    ```python
    optimizer = keras.optimizers.AdamW(weight_decay=0.05)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(optimizer=optimizer, loss="mse")  # repeat after every load_model()
    ```

    ## Options
    None.

    ## References
    - Keras 3 `BaseOptimizer.exclude_from_weight_decay` and `get_config`
    - keras-team/keras#16274 (exclusions are not serializable, by design)
    """

    code: ClassVar[str] = "WD003"
    name: ClassVar[str] = "decay-exclusions-unknown"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"compile"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        optimizer = model.optimizer
        if optimizer is None or not optimizer.decays:
            return
        reached = [
            w
            for w in model.weights()
            if w.role in _USUALLY_EXCLUDED and is_decayed_by_optimizer(w, optimizer)
        ]
        if optimizer.exclusions is not None and not reached:
            return
        summary = _summary(reached)
        common = dict(
            layer_path="",
            layer_class=model.root.class_name,
            config_key="compile_config.optimizer.config.weight_decay",
            fix=_fix(reached, live=optimizer.exclusions is not None),
            details={"weights": [w.path for w in reached]},
        )
        if optimizer.exclusions is None:
            yield self.finding(
                ctx,
                f"{optimizer_label(model)}: exclusions set with `exclude_from_weight_decay()` "
                "are never saved, so after a reload every trainable variable is decayed"
                + (f", including {summary}." if summary else "."),
                severity=Severity.INFO,
                **common,
            )
        else:
            patterns = list(optimizer.exclusions)
            yield self.finding(
                ctx,
                f"{optimizer_label(model)} decays {summary}, which weight decay usually "
                f"leaves alone: {paths_text([w.shown for w in reached])}. Received: "
                f"exclusions var_names={patterns}"
                + (
                    f", var_list of {len(optimizer.excluded_paths)}"
                    if optimizer.excluded_paths
                    else ""
                ),
                **common,
            )


def _summary(weights: list[WeightRef]) -> str:
    counts: dict[str, int] = {}
    for weight in weights:
        label = _USUALLY_EXCLUDED[weight.role][0]
        counts[label] = counts.get(label, 0) + 1
    return ", ".join(
        f"{n} {label if n == 1 else _PLURALS.get(label, label + 's')}"
        for label, n in counts.items()
    )


def _fix(weights: list[WeightRef], *, live: bool) -> str:
    names = sorted({p for w in weights if (p := _USUALLY_EXCLUDED[w.role][1])} | {"bias"})
    depthwise = [w.path for w in weights if w.role is Role.DEPTHWISE_KERNEL]
    call = f"optimizer.exclude_from_weight_decay(var_names={names}"
    if depthwise:
        call += (
            ", var_list=[v for v in model.trainable_weights if v.path in DEPTHWISE]"
            f"  # DEPTHWISE = {set(depthwise[:3])}{' ...' if len(depthwise) > 3 else ''}"
        )
    call += ")"
    when = (
        "on a fresh optimizer, before `compile()` (it cannot change once the optimizer is built)"
        if live
        else "on a fresh optimizer after every `load_model()`, then `model.compile("
        "optimizer=optimizer, ...)` (a loaded optimizer is already built)"
    )
    return f"Call `{call}` {when}."

"""WGT004 dead-or-exploding-units."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from auditor.graph.model import LayerNode, ModelGraph, Role
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions
from auditor.tensors.initializers import Kind
from auditor.tensors.stats import TensorStats
from auditor.tensors.verdict import Verdict, judge

_KERNELS = frozenset(
    {Role.KERNEL, Role.DEPTHWISE_KERNEL, Role.POINTWISE_KERNEL, Role.RECURRENT_KERNEL}
)


class DeadOrExplodingUnits(Rule):
    """## What it does
    Checks the L2 norm of each output unit or channel of a kernel (the last axis): units
    whose norm is negligible against the median unit norm of the kernel, at most
    `dead_ratio` times it (dead; all-zero units included), and units whose norm exceeds
    `max_ratio` times the median (exploding). Norms are summed in float64, so a unit of
    1e-25 weights is told from an all-zero one. Kernels still at a constant initialization
    (`zeros`, `ones`) are skipped: their units are alike by construction. A random
    initializer never gives a dead or exploding unit, so such a unit is reported even
    where the rest of the kernel still looks initial.

    ## Why is this bad?
    A unit with an all-zero kernel computes a constant: its capacity is gone, typically
    killed by a too strong L1 penalty or by pruning that was never meant to be kept. A unit
    whose norm dwarfs its neighbours' dominates the layer and points at an unstable or
    under-regularized training run.

    ## Example
    ```python
    keras.layers.Dense(256, kernel_regularizer=keras.regularizers.L1(0.1))  # zeroes units
    ```

    Use instead:
    ```python
    keras.layers.Dense(256, kernel_regularizer=keras.regularizers.L2(1e-4))
    ```

    ## Options
    - `dead_ratio` (float, default 1e-6): a unit's norm over the median unit norm at or
      below which it is dead (against the largest unit norm when most units are all-zero).
    - `max_ratio` (float, default 100.0): a unit's norm over the median unit norm above
      which it is exploding.
    - `min_units` (int, default 4): kernels with fewer output units are not judged.

    ## References
    - "Is my weight decay excessive?": per-channel weight-norm tracking (see-rnn)
    """

    code: ClassVar[str] = "WGT004"
    name: ClassVar[str] = "dead-or-exploding-units"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"weights"})

    class Options(RuleOptions):
        """Thresholds on per-unit norms."""

        dead_ratio: float = Field(default=1e-6, ge=0, lt=1)
        max_ratio: float = Field(default=100.0, gt=1)
        min_units: int = Field(default=4, ge=2)

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        import numpy as np  # on use: `audit rules` imports every rule, and no numpy

        for weight in layer.weights:
            stats = ctx.stats.get(weight.path)
            if weight.role not in _KERNELS or stats is None or stats.channel_norms is None:
                continue
            if len(stats.channel_norms) < ctx.options.min_units or stats.nan or stats.inf:
                continue
            if _constant_init(stats):
                continue
            norms = np.asarray(stats.channel_norms, dtype=np.float64)
            median = float(np.median(norms))
            reference = median if median > 0 else float(norms.max())
            dead = np.flatnonzero(norms <= ctx.options.dead_ratio * reference).tolist()
            limit = ctx.options.max_ratio * median
            exploding = np.flatnonzero(norms > limit).tolist() if median > 0 else []
            if not dead and not exploding:
                continue
            parts = []
            if dead:
                largest = float(norms[dead].max())
                how = "all their weights are exactly 0 ("
                if largest > 0:
                    against = "median" if median > 0 else "largest"
                    how = (
                        f"all their weights are at most {number(largest)} in magnitude (norms "
                        f"under {number(ctx.options.dead_ratio)}x the {against} unit norm "
                        f"{number(reference)}; "
                    )
                parts.append(f"{_units(len(dead), len(norms))} dead: {how}{_which(dead)})")
            if exploding:
                worst = float(norms[exploding].max())
                parts.append(
                    f"{_units(len(exploding), len(norms))} exploding: norms over "
                    f"{number(ctx.options.max_ratio)}x the median unit norm {number(median)} "
                    f"(largest {number(worst)}; {_which(exploding)})"
                )
            yield self.finding(
                ctx,
                f"`{weight.shown}`: {'; '.join(parts)}.",
                layer=layer,
                weight=weight,
                config_key=None,
                fix="Check the L1 penalty and learning rate of this layer; dead units can be "
                "pruned away, exploding ones call for a smaller learning rate or clipping.",
                details={
                    "dead": dead[:100],
                    "exploding": exploding[:100],
                    "median_norm": median,
                    "units": len(norms),
                },
            )


def _constant_init(stats: TensorStats) -> bool:
    """True for a kernel still at a constant (or per-position constant) initializer."""
    fit = stats.init
    return (
        fit is not None
        and fit.reference.kind in (Kind.CONSTANT, Kind.PATTERN)
        and judge(stats).verdict is Verdict.INITIAL
    )


def _units(count: int, total: int) -> str:
    return f"{count} of {total} output units {'is' if count == 1 else 'are'}"


def _which(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:8])
    more = f" and {len(indices) - 8} more" if len(indices) > 8 else ""
    return f"{'unit' if len(indices) == 1 else 'units'} {shown}{more}"

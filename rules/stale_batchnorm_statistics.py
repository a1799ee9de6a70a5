"""WGT005 stale-batchnorm-statistics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from auditor.graph.model import LayerNode, ModelGraph, Role
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext

if TYPE_CHECKING:
    from auditor.tensors.stats import TensorStats


class StaleBatchnormStatistics(Rule):
    """## What it does
    Checks BatchNormalization layers whose moving mean is still exactly 0 and moving
    variance exactly 1 although `gamma` or `beta` have moved away from 1 and 0.

    ## Why is this bad?
    The layer was trained but never updated its statistics: it only ran with
    `training=False` (a frozen BatchNorm, or a custom loop that forgot `training=True`),
    or its statistics were reset. At inference it normalizes with mean 0 and variance 1
    instead of the data's, so predictions differ from what training measured.

    ## Example
    ```python
    logits = model(x, training=False)  # in a custom training loop
    ```

    Use instead:
    ```python
    logits = model(x, training=True)  # BatchNorm updates its moving statistics
    ```

    ## Options
    None.

    ## References
    - Keras `BatchNormalization` docs (training vs inference behaviour)
    """

    code: ClassVar[str] = "WGT005"
    name: ClassVar[str] = "stale-batchnorm-statistics"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"weights"})
    applies_to: ClassVar[tuple[str, ...]] = ("BatchNormalization", "SyncBatchNormalization")

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        by_role = {w.role: ctx.stats.get(w.path) for w in layer.weights}
        mean, variance = by_role.get(Role.MOVING_MEAN), by_role.get(Role.MOVING_VARIANCE)
        if mean is None or variance is None or not (_all(mean, 0.0) and _all(variance, 1.0)):
            return
        gamma, beta = by_role.get(Role.GAMMA), by_role.get(Role.BETA)
        moved = [
            name
            for name, stats, start in (("gamma", gamma, 1.0), ("beta", beta, 0.0))
            if stats is not None and not _all(stats, start)
        ]
        if not moved:
            return
        yield self.finding(
            ctx,
            f"BatchNormalization `{layer.path}` has trained {' and '.join(moved)} but its "
            "moving_mean is exactly 0 and moving_variance exactly 1: its statistics were "
            "never updated, so inference normalizes with the wrong mean and variance.",
            layer=layer,
            fix="Train with `training=True` (the default in `fit()`), or recompute the "
            "statistics with a few forward passes in training mode before saving.",
            details={"moved": moved},
        )


def _all(stats: TensorStats, value: float) -> bool:
    """Every value is exactly `value` (NaN-free)."""
    return not stats.nan and not stats.inf and stats.min == value and stats.max == value

"""The report's inventory: every layer and weight with its coverage and statistics.

This is what the HTML report draws: per layer its activity regularizer, or, for a
dropout or noise layer, its rate, mask and place (the layer before it, the batch
normalization its output reaches); per weight its shape, trainable flag, regularizer and
coefficients, optimizer decay, initializer, and the statistics of its one read (norms,
moments, histograms, per-channel norm summary, the initialization verdict).
"""

from __future__ import annotations

from auditor.graph.decay import optimizer_decay
from auditor.graph.dropout import at_inference, batch_norm_after, mask_axes, rate
from auditor.graph.heads import STOCHASTIC, Parents, parents, predecessor
from auditor.graph.model import LayerNode, ModelGraph
from auditor.results.findings import (
    InitializationFit,
    InventoryDropout,
    InventoryLayer,
    InventoryWeight,
    WeightStatistics,
)
from auditor.tensors.stats import TensorStats
from auditor.tensors.verdict import judge

__all__ = ["inventory"]


def inventory(graph: ModelGraph, stats: dict[str, TensorStats]) -> list[InventoryLayer]:
    """One entry per layer with weights, an activity regularizer or dropout (and every
    nested model and opaque layer)."""
    layers = []
    taken_from = parents(graph)
    for node in graph.layers():
        stochastic = node.class_name in STOCHASTIC
        shown = node.weights or node.is_model or node.activity_regularizer is not None
        if not shown and not stochastic and node.opaque is None:
            continue
        layers.append(
            InventoryLayer(
                path=node.path,
                name=node.name,
                class_name=node.class_name,
                trainable=node.trainable,
                is_model=node.is_model,
                opaque=node.opaque,
                activity_regularizer=node.activity_regularizer.describe()
                if node.activity_regularizer is not None
                else None,
                dropout=_dropout(taken_from, node) if stochastic else None,
                weights=[
                    InventoryWeight(
                        path=w.path,
                        name=w.name,
                        role=w.role.value,
                        shape=list(w.shape) if w.shape is not None else None,
                        dtype=w.dtype,
                        parameters=w.size,
                        trainable=w.trainable,
                        regularizer=w.regularizer.describe() if w.regularizer else None,
                        l1=w.regularizer.l1 if w.regularizer else 0.0,
                        l2=w.regularizer.l2 if w.regularizer else 0.0,
                        optimizer_decay=optimizer_decay(w, graph.optimizer).value,
                        initializer=w.initializer.describe() if w.initializer else None,
                        stats=_stats_model(stats.get(w.path)),
                    )
                    for w in node.weights
                ],
            )
        )
    return layers


#: Layers between a dropout and the batch normalization it reaches, at most (DRP001's
#: default).
_NORMALIZATION_HOPS = 4


def _dropout(taken_from: Parents, node: LayerNode) -> InventoryDropout:
    stddev = node.config.get("stddev")
    if not isinstance(stddev, int | float) or isinstance(stddev, bool) or not 0 <= stddev < 1e30:
        stddev = None
    before = predecessor(taken_from, node)
    place = taken_from.place.get(id(node))
    found = batch_norm_after(place[0], node, _NORMALIZATION_HOPS) if place else None
    return InventoryDropout(
        rate=rate(node),
        stddev=None if stddev is None else float(stddev),
        mask=mask_axes(node),
        after=before.path if before is not None else None,
        normalization=found[0].path if found is not None else None,
        at_inference=at_inference(node),
    )


def _stats_model(stats: TensorStats | None) -> WeightStatistics | None:
    if stats is None:
        return None
    if stats.zeros is None:
        raise ValueError(
            "the inventory needs statistics computed with its fields; expected "
            "compute(..., inventory=True). Received: zeros=None"
        )
    summary = stats.channel_summary
    return WeightStatistics(
        count=stats.count,
        l2_norm=_finite(stats.l2_norm),
        l1_norm=_finite(stats.sum_abs) if stats.sum_abs is not None else None,
        mean=_finite(stats.mean),
        std=_finite(stats.std),
        min=_finite(stats.min),
        max=_finite(stats.max),
        zeros=stats.zeros,
        nan=stats.nan,
        inf=stats.inf,
        histogram=list(stats.histogram),
        sampled=stats.sampled,
        channels=len(stats.channel_norms) if stats.channel_norms is not None else None,
        channel_norm_min=summary[0] if summary else None,
        channel_norm_median=summary[1] if summary else None,
        channel_norm_max=summary[2] if summary else None,
        channel_norm_histogram=list(stats.channel_histogram),
        init=_init_model(stats),
        reference_max_abs_diff=_finite(stats.comparison.max_abs_diff)
        if stats.comparison is not None
        else None,
    )


def _init_model(stats: TensorStats) -> InitializationFit | None:
    fit = stats.init
    if fit is None:
        return None
    judgement = judge(stats)
    return InitializationFit(
        initializer=fit.reference.name,
        law=fit.reference.description,
        verdict=judgement.verdict.value,
        confidence=judgement.confidence,
        evidence=judgement.evidence,
        mismatches=fit.mismatches,
        outside=fit.outside,
        ks=fit.ks,
        ks_p=fit.ks_p,
        sample=fit.sample,
        gram_error=fit.gram_error,
    )


def _finite(value: float) -> float:
    """JSON has no NaN: non-finite statistics (all-NaN tensors) are reported as 0.0; the
    `nan`/`inf` counts carry the truth."""
    return value if value == value and abs(value) != float("inf") else 0.0

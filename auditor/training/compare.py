"""`audit compare A B`: how checkpoint B differs from checkpoint A, layer by layer.

Both files are opened statically (nothing deserialized, the same guards as an audit), and
each tensor of B is read once, in step with the same tensor of A: that single pass gives
both norms, the distance between them, the share of values that changed, and the fit of
B to its initializer. From those, each layer is `changed`, `unchanged` (frozen, or never
trained), `reset` (changed, and now at its initialization: what rebuilding a model from
its config does to pretrained weights), or `added`/`removed`/`reshaped`.
"""

from __future__ import annotations

import math
import os
from contextlib import ExitStack

from auditor.engine.file_audit import open_readable
from auditor.engine.judge import read_stats
from auditor.graph.model import LayerNode, ModelGraph, WeightRef
from auditor.limits import Limits
from auditor.results.comparison import CheckpointComparison, ComparisonSummary, LayerChange
from auditor.results.findings import SOURCE_FORMATS, Source
from auditor.tensors.stats import TensorStats
from auditor.tensors.verdict import Verdict, judge
from auditor.text import display_path

__all__ = ["compare"]


def compare(
    a: str | os.PathLike[str], b: str | os.PathLike[str], limits: Limits | None = None
) -> CheckpointComparison:
    """Compare checkpoint `b` with checkpoint `a` (files of the same model).

    Raises:
        UsageError: when either file cannot be read as a model.
    """
    with ExitStack() as stack:
        graph_a = stack.enter_context(open_readable(a, limits, "checkpoint A"))
        graph_b = stack.enter_context(open_readable(b, limits, "checkpoint B"))
        stats, unreadable = read_stats(graph_b, graph_a)
        layers = _compare_layers(graph_a, graph_b, stats)
    return CheckpointComparison(
        a=_source(graph_a),
        b=_source(graph_b),
        summary=_summarize(layers, stats),
        layers=layers,
        unreadable=unreadable,
    )


def _source(graph: ModelGraph) -> Source:
    src = graph.source
    return Source(
        path=display_path(src.path),
        format=src.format if src.format in SOURCE_FORMATS and src.format != "live" else "unknown",
        keras_version=src.keras_version,
        model_name=graph.root.name,
        model_class=graph.root.class_name,
    )


def _compare_layers(
    graph_a: ModelGraph, graph_b: ModelGraph, stats: dict[str, TensorStats]
) -> list[LayerChange]:
    layers_a = {node.path: node for node in graph_a.root.walk() if node.weights}
    changes = [
        _layer_change(node, layers_a.get(node.path), stats)
        for node in graph_b.root.walk()
        if node.weights
    ]
    seen = {node.path for node in graph_b.root.walk()}
    changes += [
        LayerChange(
            path=node.path,
            class_name=node.class_name,
            status="removed",
            trainable=any(w.trainable for w in node.weights),
            values=_values(node.weights),
            note="only in A",
        )
        for path, node in layers_a.items()
        if path not in seen
    ]
    return changes


def _layer_change(
    node: LayerNode, before: LayerNode | None, stats: dict[str, TensorStats]
) -> LayerChange:
    base = {
        "path": node.path,
        "class_name": node.class_name,
        "trainable": any(w.trainable for w in node.weights),
        "values": _values(node.weights),
    }
    if before is None:
        return LayerChange(**base, status="added", note="only in B")
    shapes_a = {w.name: w.shape for w in before.weights}
    if {w.name: w.shape for w in node.weights} != shapes_a:
        return LayerChange(**base, status="reshaped", note="weights or shapes differ")
    measured = [stats[w.path] for w in node.weights if w.path in stats]
    compared = [s for s in measured if s.comparison is not None]
    if not compared or len(measured) < len(node.weights):
        return LayerChange(**base, status="changed", note="some tensors could not be read")
    squares_a = sum(s.comparison.reference_sum_squares for s in compared if s.comparison)
    squares_b = sum(s.comparison.sum_squares for s in compared if s.comparison)
    squares_diff = sum(s.comparison.diff_sum_squares for s in compared if s.comparison)
    differing = sum(s.comparison.differing for s in compared if s.comparison)
    norm_a, norm_b = math.sqrt(squares_a), math.sqrt(squares_b)
    figures = {
        "norm_a": norm_a,
        "norm_b": norm_b,
        "norm_change": (norm_b - norm_a) / norm_a if norm_a else None,
        "distance": math.sqrt(squares_diff) / norm_a if norm_a else None,
        "changed_share": differing / base["values"] if base["values"] else 0.0,
        "max_abs_diff": _finite(max(s.comparison.max_abs_diff for s in compared if s.comparison)),
    }
    if not differing:
        note = "never trained" if base["trainable"] else "frozen"
        return LayerChange(**base, **figures, status="unchanged", note=note)
    changed = [s for s in compared if s.comparison and s.comparison.differing]
    verdicts = [judge(s).verdict for s in changed]
    known = [v for v in verdicts if v is not Verdict.UNKNOWN]
    if known and all(v is Verdict.INITIAL for v in known):
        return LayerChange(**base, **figures, status="reset", note="at its initialization in B")
    return LayerChange(**base, **figures, status="changed")


def _values(weights: tuple[WeightRef, ...]) -> int:
    return sum(math.prod(w.shape) for w in weights if w.shape is not None)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _summarize(layers: list[LayerChange], stats: dict[str, TensorStats]) -> ComparisonSummary:
    counts = {status: 0 for status in ("changed", "unchanged", "reset", "added", "removed")}
    counts["reshaped"] = 0
    for layer in layers:
        counts[layer.status] += 1
    compared = [s for s in stats.values() if s.comparison is not None]
    values = sum(s.count for s in compared)
    changed = sum(s.comparison.differing for s in compared if s.comparison)
    return ComparisonSummary(
        layers=len(layers),
        **counts,
        values=values,
        changed_values=changed,
        changed_share=changed / values if values else 0.0,
    )

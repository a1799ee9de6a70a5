"""The report of `audit compare A B`: how checkpoint B differs from A, layer by layer.

Models only (pydantic, frozen): `auditor.training.compare` fills them from the two files, and the
renderers draw them without importing the reading side.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from auditor.results.display import Displayed
from auditor.results.findings import ReportModel, Source

__all__ = ["CheckpointComparison", "ComparisonSummary", "LayerChange", "Status"]

Status = Literal["changed", "unchanged", "reset", "added", "removed", "reshaped"]


class LayerChange(ReportModel):
    """One layer of B against the same layer of A.

    Attributes:
        norm_a, norm_b: L2 norms of all the layer's weights together.
        norm_change: (norm_b - norm_a) / norm_a.
        distance: ||B - A|| / ||A||, the relative size of the change.
        changed_share: the share of the layer's values that differ.
        max_abs_diff: the largest |B - A|.
        note: why a layer is unchanged (`frozen`, `never trained`), or what is missing.
    """

    path: str
    class_name: str
    status: Status
    trainable: bool
    values: int = Field(ge=0)
    norm_a: float | None = None
    norm_b: float | None = None
    norm_change: float | None = None
    distance: float | None = None
    changed_share: float | None = None
    max_abs_diff: float | None = None
    note: str = ""


class ComparisonSummary(ReportModel):
    layers: int
    changed: int
    unchanged: int
    reset: int
    added: int
    removed: int
    reshaped: int
    values: int
    changed_values: int
    changed_share: float


class CheckpointComparison(Displayed, ReportModel):
    """Every layer with weights, in B's order (then the layers only A has)."""

    kind: Literal["keras-audit-compare"] = "keras-audit-compare"
    schema_version: int = 1
    a: Source
    b: Source
    summary: ComparisonSummary
    layers: list[LayerChange]
    unreadable: list[str] = Field(default_factory=list)

    def reset_layers(self) -> list[LayerChange]:
        return [layer for layer in self.layers if layer.status == "reset"]

"""The training history's models: what `auditor.keras.RegularizationMonitor` records
for one `fit()`, and the per-group series `audit history` draws from it.

Models and arithmetic on them only (pydantic, frozen; no NumPy, no reading): the callback
and `auditor.training.history` (which reads and writes the files) fill them, and the renderers draw
them without importing either.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

from pydantic import Field

from auditor.results.display import Displayed
from auditor.results.findings import ReportModel

__all__ = [
    "HISTORY_SCHEMA_VERSION",
    "BatchRecord",
    "EpochRecord",
    "GroupSeries",
    "Norms",
    "OptimizerState",
    "TrackedWeight",
    "TrainingHistory",
    "TrainingRun",
    "TrainingRuns",
    "combine",
    "group_series",
]

HISTORY_SCHEMA_VERSION = 1


class Norms(ReportModel):
    """L2 norms of one tensor (or group): the whole, and its output channels (last axis).

    Attributes:
        norm: the Frobenius norm, sqrt(sum w**2).
        channel_mean, channel_max: mean and largest L2 norm of the output channels (the
            vectors along the last axis); for scalars, the norm itself.
        channels: number of channels summarized.
    """

    norm: float
    channel_mean: float
    channel_max: float
    channels: int = Field(ge=0)


class TrackedWeight(ReportModel):
    """A weight whose norms the history follows."""

    path: str
    layer_path: str
    role: str
    group: str
    shape: tuple[int, ...]
    regularizer: str | None = None  # described, e.g. "L2(l2=0.0001)"
    decayed: bool = False  # reached by the optimizer's decoupled weight decay


class OptimizerState(ReportModel):
    """The optimizer over one epoch.

    Attributes:
        learning_rate: at the end of the epoch.
        weight_decay: the decoupled decay coefficient (None: the optimizer has none).
        decay_shrink: the product over the epoch's steps of (1 - lr * weight_decay): the
            factor decoupled decay alone multiplied each decayed weight by (1.0 without).
        steps: optimizer steps taken in the epoch.
    """

    class_name: str
    learning_rate: float | None = None
    weight_decay: float | None = None
    decay_shrink: float = 1.0
    steps: int = 0


class EpochRecord(ReportModel):
    """One epoch, as the training loop reported it, split into data loss and penalty.

    `loss` is Keras's epoch loss (the batch-size weighted mean over the epoch of the loss
    the optimizer minimised); `regularization_loss` is the same weighted mean of the
    penalty each batch's loss included (computed from the weights that batch saw), so
    `data_loss = loss - regularization_loss`. The `val_` fields are measured on the
    weights at the end of the epoch.
    """

    epoch: int = Field(ge=0)
    step: int = Field(ge=0)  # optimizer steps since training began
    loss: float | None = None
    data_loss: float | None = None
    regularization_loss: float
    val_loss: float | None = None
    val_data_loss: float | None = None
    val_regularization_loss: float | None = None
    penalty_share: float | None = None  # regularization_loss / data_loss
    optimizer: OptimizerState | None = None
    norms: dict[str, Norms] = Field(default_factory=dict)  # weight path -> norms


class BatchRecord(ReportModel):
    """Every N batches: the running epoch figures and the penalty of the last batch."""

    epoch: int = Field(ge=0)
    batch: int = Field(ge=0)
    step: int = Field(ge=0)
    loss: float | None = None
    data_loss: float | None = None
    regularization_loss: float  # running weighted mean over the epoch so far
    batch_penalty: float  # the penalty the last batch's loss included


class TrainingHistory(Displayed, ReportModel):
    """Everything `RegularizationMonitor` recorded for one `fit()`."""

    kind: Literal["keras-audit-history"] = "keras-audit-history"
    schema_version: int = HISTORY_SCHEMA_VERSION
    model_name: str
    keras_version: str | None = None
    optimizer: str | None = None
    warn_share: float | None = None
    weights: list[TrackedWeight] = Field(default_factory=list)
    epochs: list[EpochRecord] = Field(default_factory=list)
    batches: list[BatchRecord] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class TrainingRun(ReportModel):
    """One history among several, with the label the comparison shows it under."""

    label: str
    history: TrainingHistory


class TrainingRuns(Displayed, ReportModel):
    """Several histories overlaid (`audit history RUN1 RUN2 ...`): the same model trained
    with and without L2, with another decay, for longer."""

    kind: Literal["keras-audit-history-runs"] = "keras-audit-history-runs"
    runs: list[TrainingRun] = Field(min_length=1)


class GroupSeries(ReportModel):
    """One weight group's norms at every recorded epoch (None where it was not measured)."""

    group: str
    weights: int
    decayed: int
    regularized: int
    norm: list[float | None]
    channel_mean: list[float | None]
    channel_max: list[float | None]


def combine(parts: Iterable[Norms]) -> Norms | None:
    """The norms of a group: the norm of all its values together, and the channel mean
    and max over every channel of every member."""
    items = list(parts)
    if not items:
        return None
    channels = sum(n.channels for n in items)
    return Norms(
        norm=math.sqrt(sum(n.norm * n.norm for n in items)),
        channel_mean=sum(n.channel_mean * n.channels for n in items) / channels
        if channels
        else 0.0,
        channel_max=max(n.channel_max for n in items),
        channels=channels,
    )


def group_series(history: TrainingHistory) -> list[GroupSeries]:
    """Per group, the combined norms at every epoch, groups in a fixed order."""
    members: dict[str, list[TrackedWeight]] = {}
    for weight in history.weights:
        members.setdefault(weight.group, []).append(weight)
    series = []
    for group in sorted(members, key=_group_order):
        tracked = members[group]
        points = [
            combine(e.norms[w.path] for w in tracked if w.path in e.norms) for e in history.epochs
        ]
        series.append(
            GroupSeries(
                group=group,
                weights=len(tracked),
                decayed=sum(w.decayed for w in tracked),
                regularized=sum(w.regularizer is not None for w in tracked),
                norm=[p.norm if p else None for p in points],
                channel_mean=[p.channel_mean if p else None for p in points],
                channel_max=[p.channel_max if p else None for p in points],
            )
        )
    return series


_ORDER = ("kernel", "depthwise", "pointwise", "recurrent", "embeddings", "bias", "normalization")


def _group_order(group: str) -> tuple[int, str]:
    return (_ORDER.index(group) if group in _ORDER else len(_ORDER), group)

"""RegularizationMonitor: the loss without the penalty, and whether decay is working.

Keras prints one `loss`, and it includes every regularizer's penalty. This callback splits
it: each epoch it adds `data_loss` and `regularization_loss` (and their `val_` twins) to
the logs, so they reach the progress bar, `History` and every later callback, and it
follows the L2 norms of each weight group (kernels, depthwise kernels, biases,
normalization, ...) and the shrink the optimizer's decoupled weight decay applied. With
`tensorboard=` it also writes them as TensorBoard scalars and histograms
(`auditor.training.tensorboard`).

Exactness (Keras 3): the penalty is what `Layer._get_regularization_losses` sums, the
regularizers of `model.trainable_weights` (frozen weights contribute nothing), evaluated
at the start of each batch on the weights that batch's forward pass sees. Keras's epoch
`loss` is the batch-size weighted mean of the batch losses; the monitor weights each
batch's penalty by the samples the loss tracker counted for it, so
`data_loss = loss - regularization_loss` holds exactly. With `steps_per_execution > 1`
Keras calls batch hooks once per execution, so the penalty is sampled once per execution.
On the JAX backend the monitor attaches the training state to the variables at each
batch (what `Callback.model` does there), a copy per batch that fit() otherwise makes
once per epoch; the TensorFlow and JAX backends are tested, PyTorch is not.

Importing this module imports keras.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import keras
import numpy as np

from auditor.graph.decay import Decay, optimizer_decay
from auditor.numbers import number, percent
from auditor.results.history import (
    BatchRecord,
    EpochRecord,
    OptimizerState,
    TrackedWeight,
    TrainingHistory,
)
from auditor.training.history import group_of, weight_norms, write_history
from auditor.training.tensorboard import (
    EventWriter,
    GroupSummary,
    channel_histogram,
    log_dir_of,
)

__all__ = ["RegularizationMonitor"]

logger = logging.getLogger("keras_audit")


class RegularizationMonitor(keras.callbacks.Callback):
    """Split the loss into data loss and penalty; follow weight norms and weight decay.

    Args:
        path: str | PathLike | None, where to write the JSON history after every epoch
            (read it back with `audit history PATH`). None keeps it in memory only.
        every_n_batches: int, also record (and log as `data_loss` / `regularization_loss`)
            the running figures every N training batches; 0 (default) for epochs only.
        warn_share: float, warn once (on the `keras_audit` logger) when the penalty exceeds
            this share of the data loss; 0 disables the warning.
        track_norms: bool, record per-weight norms each epoch (one read of every trainable
            weight per epoch).
        tensorboard: a log dir, or a `keras.callbacks.TensorBoard` whose log dir to share:
            write the figures as TensorBoard scalars and histograms there, in the `train`
            and `validation` runs Keras writes (tags in `auditor.training.tensorboard`).
            Needs the `tensorboard` extra.

    Raises:
        ValueError, TypeError: for a bad argument (naming it and what was expected).
        ImportError: for `tensorboard=` without TensorBoard installed (naming the extra).

    Attributes:
        history: TrainingHistory, everything recorded so far.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        every_n_batches: int = 0,
        warn_share: float = 0.5,
        track_norms: bool = True,
        tensorboard: str | os.PathLike[str] | keras.callbacks.TensorBoard | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(every_n_batches, int) or every_n_batches < 0:
            raise ValueError(
                "every_n_batches must be a non-negative integer. "
                f"Received: every_n_batches={every_n_batches!r}"
            )
        if not (isinstance(warn_share, int | float) and warn_share >= 0):
            raise ValueError(f"warn_share must be a number >= 0. Received: {warn_share!r}")
        self.path = path
        self.every_n_batches = every_n_batches
        self.warn_share = float(warn_share)
        self.track_norms = track_norms
        self.history: TrainingHistory | None = None
        self._board = EventWriter(log_dir_of(tensorboard)) if tensorboard is not None else None
        self._tracked: list[tuple[str, str, Any]] = []  # path, group, variable
        self._penalized: list[Any] = []
        self._warned = False
        self._step = self._epoch = 0
        self._reset_epoch()

    # -- training hooks ------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from auditor.loaders.live import load_live

        live = load_live(self.model)
        spec = live.graph.compile.optimizer if live.graph.compile else None
        tracked = []
        self._tracked = []
        for weight in live.graph.weights():
            variable = live.variables.get(weight.path)
            if variable is None or not weight.trainable or weight.shape is None:
                continue
            regularizer = weight.active_regularizer
            tracked.append(
                TrackedWeight(
                    path=weight.path,
                    layer_path=weight.layer_path,
                    role=weight.role.value,
                    group=group_of(weight),
                    shape=weight.shape,
                    regularizer=regularizer.describe() if regularizer else None,
                    decayed=optimizer_decay(weight, spec) is Decay.DECAYED,
                )
            )
            self._tracked.append((weight.path, tracked[-1].group, variable))
        self._penalized = [v for v in self.model.trainable_weights if v.regularizer is not None]
        optimizer = getattr(self.model, "optimizer", None)
        self._step = _iterations(optimizer)
        self._warned = False
        self.history = TrainingHistory(
            model_name=self.model.name,
            keras_version=keras.__version__,
            optimizer=type(optimizer).__name__ if optimizer is not None else None,
            warn_share=self.warn_share or None,
            weights=tracked,
        )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._reset_epoch()
        self._epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # On JAX, Keras keeps the training state apart from the variables during an epoch;
        # `Callback.model` attaches it to them, so the penalty reads this batch's weights.
        _ = self.model
        self._batch_penalty = self.penalty()
        self._seen_before = self._seen()
        self._batch_rate = _learning_rate(getattr(self.model, "optimizer", None))

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        samples = self._seen() - self._seen_before
        weight = samples if samples > 0 else 1.0  # no loss tracker: every batch counts once
        self._penalty_sum += self._batch_penalty * weight
        self._samples += weight
        self._steps += 1
        self._step += 1
        decay = _weight_decay(getattr(self.model, "optimizer", None))
        if decay and self._batch_rate is not None:
            self._shrink *= 1.0 - self._batch_rate * decay
        if self.every_n_batches and (batch + 1) % self.every_n_batches == 0:
            running = self._penalty_sum / self._samples
            loss = _number((logs or {}).get("loss"))
            data = loss - running if loss is not None else None
            if logs is not None:
                logs["regularization_loss"] = running
                if data is not None:
                    logs["data_loss"] = data
            if self._board is not None:
                self._board.scalars(
                    "train",
                    self._step,
                    {
                        "regularization/batch_data_loss": data,
                        "regularization/batch_regularization_loss": running,
                    },
                )
            assert self.history is not None
            self.history.batches.append(
                BatchRecord(
                    epoch=self._epoch,
                    batch=batch,
                    step=self._step,
                    loss=loss,
                    data_loss=data,
                    regularization_loss=running,
                    batch_penalty=self._batch_penalty,
                )
            )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        assert self.history is not None
        logs = logs if logs is not None else {}
        penalty = self._penalty_sum / self._samples if self._samples else self.penalty()
        loss = _number(logs.get("loss"))
        data = loss - penalty if loss is not None else None
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": self._step,
            "loss": loss,
            "data_loss": data,
            "regularization_loss": penalty,
            "penalty_share": penalty / data if data is not None and data > 0 else None,
        }
        logs["regularization_loss"] = penalty
        if data is not None:
            logs["data_loss"] = data
        val_loss = _number(logs.get("val_loss"))
        if val_loss is not None:
            val_penalty = self.penalty()  # evaluation ran on the end-of-epoch weights
            record |= {
                "val_loss": val_loss,
                "val_regularization_loss": val_penalty,
                "val_data_loss": val_loss - val_penalty,
            }
            logs["val_regularization_loss"] = val_penalty
            logs["val_data_loss"] = val_loss - val_penalty
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            record["optimizer"] = OptimizerState(
                class_name=type(optimizer).__name__,
                learning_rate=_learning_rate(optimizer),
                weight_decay=_weight_decay(optimizer),
                decay_shrink=self._shrink,
                steps=self._steps,
            )
        groups: dict[str, GroupSummary] = {}
        if self.track_norms or self._board is not None:
            norms = {}
            for path, group, variable in self._tracked:  # each weight read once
                values = keras.ops.convert_to_numpy(variable.value)
                if self.track_norms:
                    norms[path] = weight_norms(values)
                if self._board is not None:
                    groups.setdefault(group, GroupSummary()).add(values)
            if self.track_norms:
                record["norms"] = norms
        self.history.epochs.append(EpochRecord(**record))
        if self._board is not None:
            self._write_epoch(epoch, record, groups)
        self._maybe_warn(epoch, record["penalty_share"])
        if self.path is not None:
            write_history(self.history, self.path)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._board is not None:
            self._board.close()

    # -- TensorBoard ---------------------------------------------------------------------

    def _write_epoch(
        self, epoch: int, record: dict[str, Any], groups: dict[str, GroupSummary]
    ) -> None:
        assert self._board is not None
        optimizer = record.get("optimizer")
        shrink = optimizer.decay_shrink if optimizer and optimizer.weight_decay else None
        self._board.scalars(
            "train",
            epoch,
            {
                "regularization/data_loss": record["data_loss"],
                "regularization/regularization_loss": record["regularization_loss"],
                "regularization/penalty_share": record["penalty_share"],
                "regularization/decay_shrink": shrink,
            }
            | {f"weight_norms/{group}": summary.norm for group, summary in groups.items()},
        )
        if "val_loss" in record:
            self._board.scalars(
                "validation",
                epoch,
                {
                    "regularization/data_loss": record["val_data_loss"],
                    "regularization/regularization_loss": record["val_regularization_loss"],
                },
            )
        for group, summary in groups.items():
            self._histograms(epoch, group, summary)
        self._board.flush()

    def _histograms(self, epoch: int, group: str, summary: GroupSummary) -> None:
        """A group's value and channel-norm histograms. The values are binned in a second
        read of each weight, between the group's extremes the first read found, so that
        no copy of the group is held."""
        assert self._board is not None
        edges = summary.edges()
        counts = np.zeros(max(len(edges) - 1, 0))
        for _, member, variable in self._tracked:
            if member == group and len(edges):
                values = keras.ops.convert_to_numpy(variable.value)
                counts += np.histogram(values, bins=edges)[0]
        moments = (summary.count, summary.min, summary.max, summary.sum, summary.squares)
        self._board.histogram("train", epoch, f"weights/{group}", counts, edges, moments)
        norms = summary.channel_norms
        if norms.size:
            channel_counts, channel_edges = channel_histogram(norms)
            self._board.histogram(
                "train",
                epoch,
                f"channel_norms/{group}",
                channel_counts,
                channel_edges,
                (
                    int(norms.size),
                    float(norms.min()),
                    float(norms.max()),
                    float(norms.sum()),
                    float(np.dot(norms, norms)),
                ),
            )

    # -- measurements --------------------------------------------------------------------

    def penalty(self) -> float:
        """The regularization penalty of the current weights, as Keras adds it to the loss
        (the regularizers of the trainable weights; frozen weights contribute nothing)."""
        total = 0.0
        for variable in self._penalized:
            value = keras.ops.convert_to_numpy(variable.regularizer(variable.value))
            total += float(np.sum(value, dtype=np.float64))
        return total

    def _seen(self) -> float:
        tracker = getattr(self.model, "_loss_tracker", None)
        count = getattr(tracker, "count", None)
        if count is None:
            return 0.0
        return float(keras.ops.convert_to_numpy(count))

    def _reset_epoch(self) -> None:
        self._penalty_sum = self._samples = 0.0
        self._steps = 0
        self._shrink = 1.0
        self._batch_penalty = 0.0
        self._seen_before = 0.0
        self._batch_rate: float | None = None

    def _maybe_warn(self, epoch: int, share: float | None) -> None:
        if self._warned or not self.warn_share or share is None or share <= self.warn_share:
            return
        self._warned = True
        message = (
            f"epoch {epoch}: the regularization penalty is {percent(share, 0)} of the data loss "
            f"(over warn_share={number(self.warn_share)}): the regularizers may dominate training. "
            "Check the coefficients (a bare 'l2' means 0.01)."
        )
        assert self.history is not None
        self.history.warnings.append(message)
        logger.warning("RegularizationMonitor: %s", message)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _iterations(optimizer: Any) -> int:
    iterations = getattr(optimizer, "iterations", None)
    return int(keras.ops.convert_to_numpy(iterations)) if iterations is not None else 0


def _learning_rate(optimizer: Any) -> float | None:
    rate = getattr(optimizer, "learning_rate", None)
    if rate is None:
        return None
    return _number(keras.ops.convert_to_numpy(rate))


def _weight_decay(optimizer: Any) -> float | None:
    return _number(getattr(optimizer, "weight_decay", None)) or None

"""RegularizationMonitor's figures as TensorBoard event files, next to Keras's own.

Keras's `TensorBoard` callback writes a run per split under its log dir (`train`,
`validation`) with `epoch_loss`; the monitor writes into the same runs, so the dashboard
overlays training and validation for each tag:

* `regularization/data_loss`, `regularization/regularization_loss` (both runs, per
  epoch), `regularization/penalty_share` and `regularization/decay_shrink` (train);
  `regularization/batch_data_loss` and `regularization/batch_regularization_loss` every
  N batches (at the optimizer step), when the monitor records batches;
* `weight_norms/<group>`: the L2 norm of each group of weights (kernel, depthwise,
  pointwise, recurrent, embeddings, bias, normalization), per epoch;
* histograms `weights/<group>` (every value of the group) and `channel_norms/<group>`
  (the L2 norm of each output channel: the vectors along a tensor's last axis).

Written with TensorBoard's own event-file writer and protocol buffers, without
TensorFlow, so any Keras backend can write them. TensorBoard is the `tensorboard` extra.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from auditor.tensors.sums import channel_squares

__all__ = ["BUCKETS", "EventWriter", "GroupSummary", "channel_histogram", "log_dir_of"]

#: Histogram buckets between a group's smallest and largest value.
BUCKETS = 30
RUNS = ("train", "validation")


def log_dir_of(tensorboard: Any) -> Path:
    """The log dir the monitor writes into: a path, or a `keras.callbacks.TensorBoard`'s.

    Raises:
        TypeError: for anything else.
    """
    if isinstance(tensorboard, str | os.PathLike):
        return Path(tensorboard)
    log_dir = getattr(tensorboard, "log_dir", None)
    if type(tensorboard).__name__ == "TensorBoard" and isinstance(log_dir, str | os.PathLike):
        return Path(log_dir)
    raise TypeError(
        "tensorboard must be a log dir (str or PathLike) or a keras.callbacks.TensorBoard. "
        f"Received: {type(tensorboard).__name__}"
    )


class GroupSummary:
    """One group of weights at the end of an epoch, summed over its tensors as each is
    read: the moments a histogram records, and every output channel's norm."""

    def __init__(self) -> None:
        self.count = 0
        self.min = math.inf
        self.max = -math.inf
        self.sum = 0.0
        self.squares = 0.0
        self._channels: list[np.ndarray] = []

    def add(self, values: np.ndarray) -> None:
        array = np.asarray(values, dtype=np.float64)
        if not np.isfinite(array).all():  # NaN and Inf are no value to draw
            array = array[np.isfinite(array)]
        if array.size == 0:
            return
        self.count += array.size
        self.min = min(self.min, float(array.min()))
        self.max = max(self.max, float(array.max()))
        self.sum += float(array.sum())
        self.squares += float(np.dot(array.ravel(), array.ravel()))
        if array.ndim:
            self._channels.append(np.sqrt(channel_squares(array.reshape(-1, array.shape[-1]))))

    @property
    def norm(self) -> float:
        return math.sqrt(self.squares)

    @property
    def channel_norms(self) -> np.ndarray:
        return np.concatenate(self._channels) if self._channels else np.zeros(0)

    def edges(self) -> np.ndarray:
        """The bucket edges of the group's value histogram (one bucket when constant)."""
        if self.count == 0:
            return np.zeros(0)
        if self.max <= self.min:
            return np.array([self.min, self.min + max(abs(self.min), 1.0) * 1e-6])
        return np.linspace(self.min, self.max, BUCKETS + 1)


class EventWriter:
    """TensorBoard event files for the runs of one log dir.

    Raises:
        ImportError: naming the extra, when TensorBoard is not installed.
    """

    def __init__(self, log_dir: Path) -> None:
        try:
            from tensorboard.compat.proto import event_pb2, summary_pb2
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError:
            raise ImportError(
                "RegularizationMonitor(tensorboard=...) writes TensorBoard event files and "
                "needs TensorBoard: pip install 'keras-audit[tensorboard]'"
            ) from None
        self._event, self._summary = event_pb2.Event, summary_pb2
        self._open: Callable[[str], Any] = EventFileWriter
        self.log_dir = log_dir
        self._writers: dict[str, Any] = {}

    def scalars(self, run: str, step: int, values: Mapping[str, float | None]) -> None:
        """Write each value that is a finite number under its tag."""
        kept = [
            self._summary.Summary.Value(tag=tag, simple_value=float(value))
            for tag, value in values.items()
            if value is not None and math.isfinite(value)
        ]
        if kept:
            self._write(run, step, kept)

    def histogram(
        self,
        run: str,
        step: int,
        tag: str,
        counts: Iterable[float],
        edges: np.ndarray,
        moments: tuple[int, float, float, float, float],
    ) -> None:
        """Write a histogram: `counts` per bucket between `edges`, and the moments
        (count, min, max, sum, sum of squares) of the values."""
        count, low, high, total, squares = moments
        if count == 0:
            return
        proto = self._summary.HistogramProto(
            num=count,
            min=low,
            max=high,
            sum=total,
            sum_squares=squares,
            bucket_limit=[float(edge) for edge in edges[1:]],
            bucket=[float(c) for c in counts],
        )
        self._write(run, step, [self._summary.Summary.Value(tag=tag, histo=proto)])

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def _write(self, run: str, step: int, values: list[Any]) -> None:
        writer = self._writers.get(run)
        if writer is None:
            writer = self._writers[run] = self._open(str(self.log_dir / run))
        summary = self._summary.Summary(value=values)
        writer.add_event(self._event(wall_time=time.time(), step=step, summary=summary))


def channel_histogram(norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of a histogram of channel norms."""
    low, high = float(norms.min()), float(norms.max())
    if high <= low:
        high = low + max(abs(low), 1.0) * 1e-6
    return np.histogram(norms, bins=BUCKETS, range=(low, high))
